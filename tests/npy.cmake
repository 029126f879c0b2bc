# .npy reader/writer tests (base/npy.c); included by tests/CMakeLists.txt.
add_executable(test_npy test_npy.c)
target_link_libraries(test_npy PRIVATE la_core)
add_test(NAME npy COMMAND test_npy)
