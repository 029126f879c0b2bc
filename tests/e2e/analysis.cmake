add_test(NAME analysis COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(analysis PROPERTIES TIMEOUT 300 LABELS daemon)
