la_py_test(reference test_reference.py)
set_tests_properties(reference PROPERTIES LABELS worker)
