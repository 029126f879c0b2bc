add_test(NAME cli COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.py --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(cli PROPERTIES COST 50 TIMEOUT 900 LABELS daemon)
