# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The lorakit authors
# Finds lorakit's dependencies (Debian 12: libeigen3-dev, nlohmann-json3-dev, libxsimd-dev).
# Shared by the build and the installed package config, so both find the same things.
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.11 REQUIRED)
# xsimd's package config links a target named xtl; take xtl-dev's when installed, else a shim.
find_package(xtl QUIET)
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
find_package(xsimd 8 REQUIRED)
