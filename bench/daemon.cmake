# The daemon's store: worker metric records committed per second
# (la_store_add_record + la_store_flush on a fresh database). Run it through
# bench/daemon_bench.py; see bench/daemon_README.md.
add_executable(daemon_store daemon_store.c)
target_link_libraries(daemon_store PRIVATE la_daemon)
