la_daemon_test(http)
find_package(Threads REQUIRED)
target_link_libraries(test_http PRIVATE Threads::Threads)
