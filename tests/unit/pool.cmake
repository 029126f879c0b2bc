# The idle warm workers' bookkeeping (daemon/sched/pool.c).
la_c_test(pool la_daemon)
set_tests_properties(pool PROPERTIES LABELS daemon)
