la_c_test(curves la_daemon)
