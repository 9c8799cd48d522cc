# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The lorakit authors
# lorakit_dev_flags: warnings (as errors with LORAKIT_WERROR) for lorakit's own tests, examples
# and benchmarks. Never installed, never linked by the library target.
option(LORAKIT_WERROR "Treat warnings in lorakit's own targets as errors" OFF)
add_library(lorakit_dev_flags INTERFACE)
target_compile_options(lorakit_dev_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wnon-virtual-dtor
  -Wno-missing-field-initializers  # designated initializers leave fields to their defaults
  $<$<BOOL:${LORAKIT_WERROR}>:-Werror>)
