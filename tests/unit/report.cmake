# The morning report, and its colours against the dashboard's (api.js).
la_c_test(report la_daemon)
set_tests_properties(report PROPERTIES LABELS daemon)
target_compile_definitions(test_report PRIVATE
  LA_TEST_API_JS="${CMAKE_SOURCE_DIR}/web/js/api.js")
