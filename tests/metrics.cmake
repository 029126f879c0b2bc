la_unit_test(metrics)
