# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The lorakit authors
# Runs the lorakit tool once and checks what it did. Lists are given with "|" between items.
#   TOOL          the lorakit executable
#   ARGS          its arguments
#   EXPECT_RC     the exit code it must return (default 0)
#   STDOUT_MATCH  a regex its stdout must match;  STDERR_MATCH: the same for stderr
#   OUT           a file to write its stdout to
#   CHECK         a command to run after it (e.g. check_cli ... OUT), which must return 0
#   SAME_FILES    two files that must be byte-identical afterwards
#   REQUIRE       a path that must exist, else the test is skipped ("SKIP: ..." is printed and
#                 the test's SKIP_REGULAR_EXPRESSION matches it)
if(DEFINED REQUIRE AND NOT EXISTS "${REQUIRE}")
  message("SKIP: ${REQUIRE} is absent (the shared fixtures folder, LORAKIT_FIXTURES_DIR)")
  return()
endif()
string(REPLACE "|" ";" args "${ARGS}")
if(NOT DEFINED EXPECT_RC)
  set(EXPECT_RC 0)
endif()
execute_process(COMMAND ${TOOL} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("$ lorakit ${args}\n--- stdout:\n${out}--- stderr:\n${err}--- exit code ${rc}")
if(NOT rc STREQUAL EXPECT_RC)
  message(FATAL_ERROR "exit code ${rc}, expected ${EXPECT_RC}")
endif()
if(DEFINED STDOUT_MATCH AND NOT out MATCHES "${STDOUT_MATCH}")
  message(FATAL_ERROR "stdout does not match '${STDOUT_MATCH}'")
endif()
if(DEFINED STDERR_MATCH AND NOT err MATCHES "${STDERR_MATCH}")
  message(FATAL_ERROR "stderr does not match '${STDERR_MATCH}'")
endif()
if(DEFINED OUT)
  file(WRITE "${OUT}" "${out}")
endif()
if(DEFINED CHECK)
  string(REPLACE "|" ";" check "${CHECK}")
  execute_process(COMMAND ${check} RESULT_VARIABLE crc)
  if(NOT crc EQUAL 0)
    message(FATAL_ERROR "check failed: ${check}")
  endif()
endif()
if(DEFINED SAME_FILES)
  string(REPLACE "|" ";" files "${SAME_FILES}")
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${files} RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    message(FATAL_ERROR "files differ: ${files}")
  endif()
endif()
