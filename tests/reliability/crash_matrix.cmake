# The daemon SIGKILLed dozens of times during a sweep (at random instants and
# inside named write transactions) and restarted on the same database must
# store what an uninterrupted daemon stores. The sanitizer builds, several
# times slower, inject fewer kills to keep the suite's time.
if(LA_SANITIZE OR LA_TSAN)
  set(LA_CRASH_KILLS 24)
else()
  set(LA_CRASH_KILLS 60)
endif()
add_test(NAME crash_matrix COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_crash_matrix.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_REL_TEST_WORKER}
         --kills ${LA_CRASH_KILLS})
set_tests_properties(crash_matrix PROPERTIES COST 40 TIMEOUT 600 RESOURCE_LOCK daemon_workers LABELS "daemon;slow")
