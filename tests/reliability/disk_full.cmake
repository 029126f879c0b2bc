# The database on a small tmpfs that fills up mid-sweep (needs root to
# mount it; exits 77, reported as skipped, otherwise).
add_test(NAME disk_full COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_disk_full.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_REL_TEST_WORKER})
set_tests_properties(disk_full PROPERTIES COST 15 TIMEOUT 600 SKIP_RETURN_CODE 77 RESOURCE_LOCK daemon_workers LABELS "daemon;root;slow")
