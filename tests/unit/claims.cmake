la_c_test(claims la_daemon)
set_tests_properties(claims PROPERTIES LABELS daemon)
