# A log kept bounded, its head and tail (base/logbound.c): what the daemon
# and a Slurm job's worker keep of a command task's trainer's log.
la_c_test(logbound la_base)
