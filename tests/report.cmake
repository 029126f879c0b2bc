la_daemon_test(report)
