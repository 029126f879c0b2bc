# The commands of README.md and docs/*.md, run as written against a real
# daemon (```sh blocks; README.md "Docs that run"), examples/sql on its
# database, and `cmake --install` into a temporary prefix.
add_test(NAME docs COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_docs.py
         --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER}
         --source ${CMAKE_SOURCE_DIR} --build ${CMAKE_BINARY_DIR})
set_tests_properties(docs PROPERTIES COST 90 TIMEOUT 1500 LABELS "daemon;docs")
