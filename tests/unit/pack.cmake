la_c_test(pack la_core)
set_tests_properties(pack PROPERTIES LABELS worker)
