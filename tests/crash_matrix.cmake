# The daemon SIGKILLed dozens of times during a sweep (at random instants and
# inside named write transactions) and restarted on the same database must
# store what an uninterrupted daemon stores.
add_test(NAME crash_matrix COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_crash_matrix.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(crash_matrix PROPERTIES TIMEOUT 600)
