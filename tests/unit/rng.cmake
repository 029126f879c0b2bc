la_c_test(rng la_base)
