la_c_test(store la_daemon)
set_tests_properties(store PROPERTIES LABELS daemon)
