la_c_test(report la_daemon)
