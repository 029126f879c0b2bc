la_c_test(optim la_core)
set_tests_properties(optim PROPERTIES LABELS worker)
