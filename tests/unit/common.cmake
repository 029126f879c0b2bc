# The error model and ids of common.h (base/common.c).
la_c_test(common la_base)
