la_py_test(worker_cli test_worker_cli.py)
