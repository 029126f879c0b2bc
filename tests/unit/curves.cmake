la_c_test(curves la_daemon)
set_tests_properties(curves PROPERTIES LABELS daemon)
