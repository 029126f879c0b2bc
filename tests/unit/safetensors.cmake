# safetensors reader/writer tests (base/safetensors.c); st_write.py writes
# files with numpy's and torch's dtype conversions for it.
la_c_test(safetensors la_base ${LA_PYTHON})
target_compile_definitions(test_safetensors PRIVATE
                           LA_TEST_SRC="${CMAKE_CURRENT_SOURCE_DIR}")
set_tests_properties(safetensors PROPERTIES LABELS worker)
