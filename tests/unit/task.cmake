la_c_test(task la_core)
set_tests_properties(task PROPERTIES LABELS worker)
