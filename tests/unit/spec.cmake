la_c_test(spec la_daemon)
set_tests_properties(spec PROPERTIES LABELS daemon)
