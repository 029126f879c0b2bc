add_test(NAME analysis COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis.py
         --loralpha $<TARGET_FILE:loralpha> --worker $<TARGET_FILE:loralpha-worker>)
set_tests_properties(analysis PROPERTIES TIMEOUT 300)
