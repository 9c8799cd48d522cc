# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The lorakit authors
# Install rules: headers, the exported lorakit::lorakit target, package config and version.
include(CMakePackageConfigHelpers)
set(LORAKIT_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/lorakit)

install(TARGETS lorakit EXPORT lorakitTargets)
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT lorakitTargets NAMESPACE lorakit:: DESTINATION ${LORAKIT_CMAKE_DIR})
configure_package_config_file(cmake/lorakitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/lorakitConfig.cmake INSTALL_DESTINATION ${LORAKIT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lorakitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/lorakitConfig.cmake
              ${PROJECT_BINARY_DIR}/lorakitConfigVersion.cmake
        DESTINATION ${LORAKIT_CMAKE_DIR})
