la_unit_test(common)
