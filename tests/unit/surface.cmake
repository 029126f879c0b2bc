la_c_test(surface la_daemon)
set_tests_properties(surface PROPERTIES LABELS daemon)
