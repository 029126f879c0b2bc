# Coverage-guided fuzzing (libFuzzer) of the config, sweep spec, .npy,
# safetensors and record parsers and of the HTTP server: a short run of each target (fuzz/run.sh, LA_FUZZ_SECONDS each).
# Only in the non-sanitizer builds: the fuzz targets are compiled by
# fuzz/build.sh with their own -fsanitize=fuzzer,address,undefined.
# For long runs by hand see fuzz/README.md (e.g. fuzz/run.sh 3600).
find_program(LA_CLANG clang)
set(LA_FUZZ_SECONDS 60 CACHE STRING "seconds per fuzz target in the test suite")
if(LA_CLANG AND NOT LA_SANITIZE AND NOT LA_TSAN)
  add_test(NAME fuzz
    COMMAND ${CMAKE_COMMAND} -E env CC_FUZZ=${LA_CLANG}
            bash ${CMAKE_SOURCE_DIR}/fuzz/run.sh ${LA_FUZZ_SECONDS} ${CMAKE_BINARY_DIR}/fuzz)
  set_tests_properties(fuzz PROPERTIES COST 420 TIMEOUT 1200 LABELS "fuzz;slow")
elseif(NOT LA_SANITIZE AND NOT LA_TSAN AND LA_REQUIRE_WEB_TEST)
  message(FATAL_ERROR "fuzz test: needs clang (apt-get install clang)")
endif()
