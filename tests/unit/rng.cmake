la_c_test(rng la_base)
set_tests_properties(rng PROPERTIES LABELS worker)
