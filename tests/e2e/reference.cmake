la_py_test(reference test_reference.py)
