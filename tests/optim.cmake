la_unit_test(optim)
