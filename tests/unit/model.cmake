la_c_test(model la_core)
