add_executable(test_examples test_examples.c)
target_link_libraries(test_examples PRIVATE la_daemon)
add_test(NAME examples COMMAND test_examples ${CMAKE_SOURCE_DIR}/examples)
