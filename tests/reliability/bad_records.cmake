# One bad record (ingest, a local worker's stdout, values edited into the
# database) fails only its run and never the daemon's other writes or a
# sweep's analysis, recommend and report. Workers: fake_worker.py (here).
add_test(NAME bad_records COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_records.py
         --loralpha $<TARGET_FILE:loralpha>)
set_tests_properties(bad_records PROPERTIES TIMEOUT 300 LABELS daemon)
