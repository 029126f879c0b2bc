la_c_test(metrics la_core)
set_tests_properties(metrics PROPERTIES LABELS worker)
