# State files and tokens (docs/security.md): a second local user against the
# daemon's database, state and run directories and tokens; tokens hashed;
# the CLI's token only to its own daemon. Needs root; its Slurm case starts
# a one-node cluster (tests/lib/slurm/cluster.sh): one at a time with the
# slurm test (RESOURCE_LOCK slurm_cluster), other tests beside.
add_test(NAME statefiles COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_statefiles.py
         --loralpha $<TARGET_FILE:loralpha> --worker $<TARGET_FILE:loralpha-worker>)
set_tests_properties(statefiles PROPERTIES TIMEOUT 600 RESOURCE_LOCK slurm_cluster LABELS "daemon;slurm;root")
