# Every file in examples/ parses with the parser that reads it.
la_c_test(examples la_daemon ${CMAKE_SOURCE_DIR}/examples)
set_tests_properties(examples PROPERTIES LABELS daemon)
