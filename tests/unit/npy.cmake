# .npy reader/writer tests (worker/npy.c).
la_c_test(npy la_base)
