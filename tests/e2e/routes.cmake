# The daemon's route table over real HTTP: every documented route answers,
# 405 names the allowed methods, bad ids and unknown paths get 404 (401
# before the caller is known), the ingest route answers for its run token.
add_test(NAME routes COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_routes.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(routes PROPERTIES TIMEOUT 300 LABELS daemon)
