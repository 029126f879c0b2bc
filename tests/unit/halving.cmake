# Successive halving (base/halving.c, daemon/store/store_halving.c,
# docs/sweeps.md "halving"): the plan; the decisions against an
# independent synchronous successive halving for 300 random arrival
# orders; bad search objects; a halving sweep through the real store (its
# stints, kept rows, decisions, spent run-steps).
la_c_test(halving la_daemon)
set_tests_properties(halving PROPERTIES LABELS daemon)
