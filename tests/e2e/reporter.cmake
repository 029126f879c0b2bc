# The Python reporter (python/loralpha_reporter.py): its spectra and
# signal/drift figures against the worker's (la_spectra_layer, through
# spectra_ref) on the same matrices, and its records through the daemon's
# parser (test_reporter.py).
add_executable(spectra_ref spectra_ref.c)
target_link_libraries(spectra_ref PRIVATE la_core)
add_test(NAME reporter COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_reporter.py
         --ref $<TARGET_FILE:spectra_ref> --source ${CMAKE_SOURCE_DIR})
set_tests_properties(reporter PROPERTIES LABELS worker TIMEOUT 120)
