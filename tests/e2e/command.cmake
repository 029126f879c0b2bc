# The command task end to end: a real Python trainer (trainer.py) run per
# run by the daemon: records on fd 3, failures, heartbeat, time limit,
# cancel of its process group, floods, bad specs; the example trainers, the
# PyTorch one (examples/trainers/gpt_lora.py) on a tiny GPT-2 checked against
# the worker's task gpt (test_command.py).
add_test(NAME command_e2e COMMAND ${LA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_command.py --loralpha $<TARGET_FILE:loralpha> --worker ${LA_DAEMON_TEST_WORKER})
set_tests_properties(command_e2e PROPERTIES COST 40 TIMEOUT 300 RESOURCE_LOCK daemon_workers LABELS "daemon;slow")
