# A run's memory and rows estimate (worker/resources.c).
la_c_test(resources la_core)
set_tests_properties(resources PROPERTIES LABELS worker)
