add_test(NAME daemon COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_daemon.py --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(daemon PROPERTIES COST 40 TIMEOUT 600 RESOURCE_LOCK daemon_workers LABELS "daemon;slow")
