# The settings of `loralpha serve` (config file and flags), and the table
# of them in docs/daemon.md.
la_c_test(serve_config la_daemon)
set_tests_properties(serve_config PROPERTIES LABELS daemon)
target_compile_definitions(test_serve_config PRIVATE
  LA_TEST_DAEMON_MD="${CMAKE_SOURCE_DIR}/docs/daemon.md")
