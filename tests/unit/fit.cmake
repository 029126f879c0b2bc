la_c_test(fit la_daemon)
