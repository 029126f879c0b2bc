la_c_test(optim la_core)
