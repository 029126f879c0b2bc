la_c_test(report la_daemon)
set_tests_properties(report PROPERTIES LABELS daemon)
