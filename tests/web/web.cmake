# The dashboard in a real browser: needs Node.js, Debian's chromium and the
# web/ packages (scripts/test.sh installs all three and sets
# LA_REQUIRE_WEB_TEST, so there a missing piece fails the build instead of
# skipping the test).
option(LA_REQUIRE_WEB_TEST "Fail if the browser or fuzz test cannot be registered" OFF)
find_program(LA_NODE node)
if(LA_NODE AND EXISTS /usr/bin/chromium AND EXISTS ${CMAKE_SOURCE_DIR}/web/node_modules/playwright-core)
  add_test(NAME web COMMAND ${LA_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/test_web.mjs --loralpha $<TARGET_FILE:loralpha> --worker $<TARGET_FILE:loralpha-worker> --artifacts ${CMAKE_BINARY_DIR}/web-artifacts)
  set_tests_properties(web PROPERTIES COST 35 TIMEOUT 300 LABELS web)
elseif(LA_REQUIRE_WEB_TEST)
  message(FATAL_ERROR "browser test: needs node, /usr/bin/chromium and web/node_modules "
                      "(apt-get install chromium; cd web && npm ci)")
endif()
