# The Slurm executor's settings, spec fields and scripts (no cluster needed).
la_c_test(slurm_spec la_daemon)
set_tests_properties(slurm_spec PROPERTIES LABELS "daemon;slurm")
