la_c_test(model la_core)
set_tests_properties(model PROPERTIES LABELS worker)
