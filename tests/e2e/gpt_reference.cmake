# Task gpt against an independent PyTorch float64 reference built from the
# same safetensors file: 50 LoRA steps, two sizes, two target-module sets.
la_py_test(gpt_reference test_gpt_reference.py)
set_tests_properties(gpt_reference PROPERTIES LABELS worker TIMEOUT 300)
