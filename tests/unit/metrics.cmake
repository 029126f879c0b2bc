la_c_test(metrics la_core)
