la_daemon_test(store)
