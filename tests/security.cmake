# Hostile clients: a pipelining client that never reads, 120 slow clients at
# once, limits at their edges, ambiguous framing, ways out of the web root.
add_test(NAME security COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_security.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(security PROPERTIES TIMEOUT 180)
