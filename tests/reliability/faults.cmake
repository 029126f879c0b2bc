# Faults: workers die with a SIGKILLed daemon, leftovers recorded by PID and
# start time are ended at restart, a damaged or empty database is refused,
# and a full disk's state clears once space returns (a tmpfs: needs root,
# that case is skipped otherwise).
add_test(NAME faults COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_faults.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_REL_TEST_WORKER})
set_tests_properties(faults PROPERTIES TIMEOUT 600 RESOURCE_LOCK daemon_workers LABELS daemon)
