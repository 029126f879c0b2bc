la_daemon_test(spec)
