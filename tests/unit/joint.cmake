la_c_test(joint la_daemon)
set_tests_properties(joint PROPERTIES LABELS daemon)
