la_c_test(http la_daemon)
find_package(Threads REQUIRED)
target_link_libraries(test_http PRIVATE Threads::Threads)
set_tests_properties(http PROPERTIES LABELS daemon)
