# Connections: 1100 TCP connections without a token (from one address, from
# eleven, and under a flood) never lock out the Unix socket (root and a second
# local user) or an authenticated TCP client; per-peer limits; the deadline
# for connections without credentials. Needs root (a second local user).
add_test(NAME conns COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_conns.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_REL_TEST_WORKER})
set_tests_properties(conns PROPERTIES TIMEOUT 300 LABELS "daemon;root")
