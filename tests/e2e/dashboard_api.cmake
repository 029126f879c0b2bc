add_test(NAME dashboard_api COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_dashboard_api.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(dashboard_api PROPERTIES TIMEOUT 120 LABELS daemon)
