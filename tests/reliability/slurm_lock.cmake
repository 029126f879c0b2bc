# What a spec may make the daemon run on Slurm: a hostile second local user
# against daemons with and without Slurm, fake sbatch & co. recording every
# call (needs root for the accounts; no cluster).
add_test(NAME slurm_lock COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_slurm_lock.py
         --loralpha $<TARGET_FILE:loralpha> --worker $<TARGET_FILE:loralpha-worker>)
set_tests_properties(slurm_lock PROPERTIES TIMEOUT 300 LABELS "daemon;slurm;root")
