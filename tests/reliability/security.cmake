# Hostile clients: a pipelining client that never reads, 120 slow clients at
# once, limits at their edges, ambiguous framing, ways out of the web root.
# The sanitizer builds hold freed memory: only the plain build bounds RSS.
if(LA_SANITIZE OR LA_TSAN)
  set(LA_SECURITY_RSS --no-rss)
else()
  set(LA_SECURITY_RSS)
endif()
add_test(NAME security COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_security.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_REL_TEST_WORKER} ${LA_SECURITY_RSS})
set_tests_properties(security PROPERTIES TIMEOUT 180 RESOURCE_LOCK daemon_workers LABELS daemon)
