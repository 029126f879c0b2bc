la_unit_test(model)
