la_c_test(store la_daemon)
