# Identity, rights and fairness against the real daemon: tokens, the Unix
# socket (a client run as nobody), owners, per-user limits, pause, windows.
add_test(NAME identity COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_identity.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(identity PROPERTIES COST 20 TIMEOUT 600 LABELS "daemon;root")
