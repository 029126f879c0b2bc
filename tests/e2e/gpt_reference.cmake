# Task gpt against an independent PyTorch float64 reference built from the
# same safetensors file: 50 LoRA steps, two sizes, two target-module sets.
la_py_test(gpt_reference test_gpt_reference.py)
set_tests_properties(gpt_reference PROPERTIES LABELS worker TIMEOUT 300)
# Task gpt as a sweep through a real daemon: relative paths, the check at
# submit, 12 named modules per run, runs equal to the worker alone.
add_test(NAME gpt_sweep COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_gpt_sweep.py --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(gpt_sweep PROPERTIES COST 20 TIMEOUT 600 RESOURCE_LOCK daemon_workers LABELS daemon)
