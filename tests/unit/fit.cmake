la_c_test(fit la_daemon)
set_tests_properties(fit PROPERTIES LABELS daemon)
