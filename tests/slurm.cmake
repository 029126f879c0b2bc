# The Slurm executor on a real one-node cluster (tests/slurm/cluster.sh):
# needs root and Debian's slurmctld, slurmd, slurm-client and munge, which
# scripts/install-deps.sh --test installs.
add_test(NAME slurm COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_slurm.py
         --loralpha $<TARGET_FILE:loralpha> --worker $<TARGET_FILE:loralpha-worker>)
set_tests_properties(slurm PROPERTIES TIMEOUT 400 RUN_SERIAL TRUE)

# The executor's settings, spec fields and scripts (no cluster needed).
la_daemon_test(slurm_spec)

# What a spec may make the daemon run on Slurm: a hostile second local user
# against daemons with and without Slurm, fake sbatch & co. recording every
# call (needs root for the accounts; no cluster).
add_test(NAME slurm_lock COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_slurm_lock.py
         --loralpha $<TARGET_FILE:loralpha> --worker $<TARGET_FILE:loralpha-worker>)
set_tests_properties(slurm_lock PROPERTIES TIMEOUT 300)
