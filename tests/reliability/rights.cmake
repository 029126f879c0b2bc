# No file is read for a user with rights that user lacks: second local users
# against a daemon run as root and one run as an ordinary user; relative
# paths; export-slurm's directory (tests/reliability/test_rights.py). Needs root.
add_test(NAME rights COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_rights.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(rights PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77 LABELS "daemon;root")
