# The settings of `loralpha serve` (config file and flags), and the table
# of them in docs/daemon.md.
la_daemon_test(serve_config)
target_compile_definitions(test_serve_config PRIVATE
  LA_TEST_DAEMON_MD="${CMAKE_SOURCE_DIR}/docs/daemon.md")
