la_daemon_test(curves)
