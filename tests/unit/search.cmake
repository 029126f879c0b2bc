# The search along alpha (base/search.c, docs/sweeps.md "search"): the
# search object's fields and errors; the bracket's steps on losses of known
# shape, run to the end: it converges around the minimum, extends past the
# grid's edges within the limits, stops at max_points and on divergence;
# a law sweep through the real store: the prediction against what was
# found, and the grid fallback when there is no law.
la_c_test(search la_daemon)
set_tests_properties(search PROPERTIES LABELS daemon)
