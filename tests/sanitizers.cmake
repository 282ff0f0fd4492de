# Sanitizer reports from every process of the tests (FEDROUTER_SANITIZE).
#
# ctest runs the unit tests directly, so a report fails them by their exit
# status; but the end-to-end tests start routers, subclusters and tools as
# subprocesses, and a leak reported when such a process exits on SIGTERM, or
# a report from a tool whose status nobody checks, would pass unseen.  So
# each test's processes inherit ASAN_OPTIONS/UBSAN_OPTIONS with log_path
# DIR/TEST (the runtime appends .EXE.PID), and the fixture around all tests
# empties DIR first (checking with a canary that reports do arrive there)
# and fails at the end, listing each report, when DIR holds any.  A process
# killed with SIGKILL writes nothing; a file appears only for a report.
#
# Every directory with tests calls fr_sanitizer_watch() (a no-op in other
# builds); fr_sanitizer_check_all() at the end of tests/ refuses to
# configure a sanitizer build where a test was missed.

set(FR_SANITIZER_REPORTS ${CMAKE_BINARY_DIR}/sanitizer-reports)
set(FR_SANITIZER_FIXTURE fr_sanitizer_reports)
set_property(GLOBAL PROPERTY FR_SANITIZER_WATCHED "")

if(FEDROUTER_SANITIZE AND CMAKE_VERSION VERSION_LESS 3.22)
  message(FATAL_ERROR "FEDROUTER_SANITIZE needs CMake 3.22 (ENVIRONMENT_MODIFICATION) for its tests")
endif()

# fr_sanitizer_env(test): the test's processes write reports to DIR/TEST.*;
# LeakSanitizer reads the narrow suppressions of tests/lsan.supp (and does
# not list the ones used: with no leak left, that table is no report).
#
# With GCC, UBSan is a runtime of its own (libubsan) beside libasan: its
# messages go to stderr whatever its log_path, and when it first reports it
# sets the log path it was given on libasan's side (so UBSAN_OPTIONS carries
# the same log_path, or ASan's reports would fall back to stderr).  Its
# errors stop the process (-fno-sanitize-recover); with abort_on_error it
# stops by abort(), which ASan (handle_abort) reports into the file with the
# stack through __ubsan_handle_*: a runtime error leaves a report there too.
# handle_abort reports any other abort() as well, a failed assert() among
# them.
function(fr_sanitizer_env t)
  set(opts "log_path=${FR_SANITIZER_REPORTS}/${t}:log_exe_name=1")
  set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT_MODIFICATION
               "ASAN_OPTIONS=string_append::${opts}:handle_abort=1"
               "UBSAN_OPTIONS=string_append::${opts}:abort_on_error=1:print_stacktrace=1"
               "LSAN_OPTIONS=string_append::suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0")
endfunction()

function(_fr_sanitizer_watch_now)
  get_directory_property(tests TESTS)
  foreach(t IN LISTS tests)
    if(t MATCHES "\\.")
      message(FATAL_ERROR "test ${t}: no dots in test names (sanitizer report files are TEST.EXE.PID)")
    endif()
    fr_sanitizer_env(${t})
    set_property(TEST ${t} APPEND PROPERTY FIXTURES_REQUIRED ${FR_SANITIZER_FIXTURE})
    set_property(GLOBAL APPEND PROPERTY FR_SANITIZER_WATCHED ${t})
  endforeach()
endfunction()

# fr_sanitizer_watch(): every test of the calling directory, including those
# added after the call (it runs when the directory's file ends).
function(fr_sanitizer_watch)
  if(FEDROUTER_SANITIZE)
    cmake_language(DEFER CALL _fr_sanitizer_watch_now)
  endif()
endfunction()

function(_fr_sanitizer_tests_under dir out)
  get_directory_property(tests DIRECTORY ${dir} TESTS)
  get_directory_property(subs DIRECTORY ${dir} SUBDIRECTORIES)
  foreach(s IN LISTS subs)
    _fr_sanitizer_tests_under(${s} more)
    list(APPEND tests ${more})
  endforeach()
  set(${out} ${tests} PARENT_SCOPE)
endfunction()

# fr_sanitizer_check_all(): the fixture's two tests, and a configure error
# for any test of the project left outside it.
function(fr_sanitizer_check_all)
  if(NOT FEDROUTER_SANITIZE)
    return()
  endif()
  add_executable(sanitizer_canary ${PROJECT_SOURCE_DIR}/tests/sanitizer_canary.c)
  add_test(NAME sanitizer_reports_reset
           COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/sanitizer_reports.py
                   reset ${FR_SANITIZER_REPORTS} $<TARGET_FILE:sanitizer_canary>)
  fr_sanitizer_env(sanitizer_reports_reset)
  set_tests_properties(sanitizer_reports_reset PROPERTIES FIXTURES_SETUP ${FR_SANITIZER_FIXTURE} TIMEOUT 120)
  add_test(NAME sanitizer_reports
           COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/sanitizer_reports.py check ${FR_SANITIZER_REPORTS})
  set_tests_properties(sanitizer_reports PROPERTIES FIXTURES_CLEANUP ${FR_SANITIZER_FIXTURE} TIMEOUT 60)
  set_property(GLOBAL APPEND PROPERTY FR_SANITIZER_WATCHED sanitizer_reports_reset sanitizer_reports)
  # The deferred calls of the test directories have run by now: they end
  # before this directory does.
  cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL _fr_sanitizer_check_watched)
endfunction()

function(_fr_sanitizer_check_watched)
  _fr_sanitizer_tests_under(${PROJECT_SOURCE_DIR} all)
  get_property(watched GLOBAL PROPERTY FR_SANITIZER_WATCHED)
  set(missed ${all})
  if(watched)
    list(REMOVE_ITEM missed ${watched})
  endif()
  if(missed)
    message(FATAL_ERROR "tests outside the sanitizer reports fixture (call fr_sanitizer_watch() in "
                        "their directory): ${missed}")
  endif()
endfunction()
