# wrk and Python clients against the daemon for LA_LOAD_SECONDS while a sweep
# runs (tests/reliability/test_load.py, tests/reliability/load.lua).
# The sanitizer builds hold freed memory and are slower: no RSS bound, and a
# third of the time.
if(LA_SANITIZE OR LA_TSAN)
  set(LA_LOAD_SECONDS 20 CACHE STRING "seconds of load in the load test")
  set(LA_LOAD_RSS --no-rss)
else()
  set(LA_LOAD_SECONDS 60 CACHE STRING "seconds of load in the load test")
  set(LA_LOAD_RSS)
endif()
add_test(NAME load COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_load.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_REL_TEST_WORKER}
         --seconds ${LA_LOAD_SECONDS} ${LA_LOAD_RSS})
set_tests_properties(load PROPERTIES COST 60 TIMEOUT 300 RESOURCE_LOCK daemon_workers LABELS "daemon;load;slow")
