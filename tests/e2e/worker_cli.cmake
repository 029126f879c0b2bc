la_py_test(worker_cli test_worker_cli.py)
set_tests_properties(worker_cli PROPERTIES LABELS worker)
