la_c_test(spec la_daemon)
