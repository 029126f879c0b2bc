/*
 * testpoint.h: pauses at named points of the daemon, for crash tests only.
 *
 * When the environment variable LA_TEST_PAUSE lists a point's name (comma
 * separated: "flush", "finish", "create", "requeue", "delete", "search",
 * "analysis", and "run_read" and "report" on the thread pool),
 * la_testpoint(name) writes "testpoint NAME" on stderr and sleeps
 * LA_TEST_PAUSE_MS milliseconds (default 300), so that a test watching the
 * log can SIGKILL the daemon while it is inside that point (inside an open
 * write transaction, or while a fit runs). Without LA_TEST_PAUSE it does
 * nothing. tests/reliability/test_crash_matrix.py uses it.
 */
#ifndef LORALPHA_TESTPOINT_H
#define LORALPHA_TESTPOINT_H

/* Pauses if LA_TEST_PAUSE names this point (see above). */
void la_testpoint(const char *name);

#endif
