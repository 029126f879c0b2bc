add_test(NAME daemon COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_daemon.py --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(daemon PROPERTIES COST 40 TIMEOUT 600 RESOURCE_LOCK daemon_workers LABELS "daemon;slow")
# The search along alpha (test_search.py): a bracket sweep's decisions
# against an independent implementation of the documented rule, paired
# runs, and a daemon killed inside a decision reaching the same decisions.
add_test(NAME search_e2e COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_search.py --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(search_e2e PROPERTIES COST 20 TIMEOUT 600 RESOURCE_LOCK daemon_workers LABELS daemon)
