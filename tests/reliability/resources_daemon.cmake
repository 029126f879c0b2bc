# The daemon under one client that reads a run of a million rows, submits
# specs too large, or outgrows its memory cap. The sanitizer builds keep
# freed memory: only the plain build bounds the daemon's RSS.
if(LA_SANITIZE OR LA_TSAN)
  set(LA_RESOURCES_RSS --no-rss)
else()
  set(LA_RESOURCES_RSS)
endif()
add_test(NAME resources_daemon
         COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_resources.py
                 --loralpha $<TARGET_FILE:loralpha> --worker ${LA_REL_TEST_WORKER}
                 ${LA_RESOURCES_RSS})
set_tests_properties(resources_daemon PROPERTIES COST 30 TIMEOUT 600 LABELS daemon)
