la_daemon_test(fit)
