la_c_test(answer la_daemon)
set_tests_properties(answer PROPERTIES LABELS daemon)
