# The record protocol's parser (base/record.c, docs/protocol.md): good
# records of every type, bad ones refused with their field named.
la_c_test(record la_base)
set_tests_properties(record PROPERTIES LABELS daemon)
