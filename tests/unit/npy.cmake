# .npy reader/writer tests (base/npy.c).
la_c_test(npy la_base)
set_tests_properties(npy PROPERTIES LABELS worker)
