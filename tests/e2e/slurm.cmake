# The Slurm executor on a real one-node cluster (tests/lib/slurm/cluster.sh):
# needs root and Debian's slurmctld, slurmd, slurm-client and munge, which
# scripts/install-deps.sh --test installs. One cluster at a time (statefiles
# starts one too); other tests run beside.
add_test(NAME slurm COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_slurm.py
         --loralpha $<TARGET_FILE:loralpha> --worker $<TARGET_FILE:loralpha-worker>)
set_tests_properties(slurm PROPERTIES COST 60 TIMEOUT 400 RESOURCE_LOCK slurm_cluster LABELS "daemon;slurm;root")
