la_unit_test(rng)
