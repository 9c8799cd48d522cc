# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The lorakit authors
# The umbrellas reach what they promise, read from the compiler's dependency list (-M):
#   lorakit/layer.hpp    no runtime/ or io/ header, no nlohmann/json, no <fstream> or <filesystem>
#   lorakit/runtime.hpp  no io/ header, no nlohmann/json, no <fstream> or <filesystem>
#   lorakit/lorakit.hpp  every public header
# Run by CTest as headers.include_graph: cmake -DCONFIG=<file> -P check_include_graph.cmake, the
# file setting CXX, INCLUDE_DIRS, IMPLICIT_DIRS, SOURCE_DIR, WORK_DIR and PUBLIC_HEADERS (see
# CMakeLists.txt).
cmake_minimum_required(VERSION 3.25)
include(${CONFIG})

# The compiler's own directories are left out, as CMake does, so they keep their order.
set(include_flags)
list(REMOVE_DUPLICATES INCLUDE_DIRS)
foreach(dir IN LISTS INCLUDE_DIRS)
  if(NOT dir IN_LIST IMPLICIT_DIRS)
    list(APPEND include_flags -I${dir})
  endif()
endforeach()

# Sets <out> to the files (one list entry each) that a translation unit including <header> reads.
function(lorakit_dependencies header out)
  string(MAKE_C_IDENTIFIER ${header} id)
  set(source ${WORK_DIR}/${id}.cpp)
  file(WRITE ${source} "#include \"${header}\"\n")
  execute_process(COMMAND ${CXX} -std=c++20 ${include_flags} -M ${source}
                  OUTPUT_VARIABLE deps ERROR_VARIABLE errors RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${CXX} -M on ${header} failed:\n${errors}")
  endif()
  string(REGEX REPLACE "[ \t\r\n\\\\]+" ";" deps "${deps}")
  set(${out} ${deps} PARENT_SCOPE)
endfunction()

set(failures)
# Records a failure for every dependency of <header> that matches one of the regexes.
function(lorakit_forbid header)
  lorakit_dependencies(${header} deps)
  foreach(pattern IN LISTS ARGN)
    foreach(dep IN LISTS deps)
      if(dep MATCHES "${pattern}")
        list(APPEND failures "${header} must not include ${dep}")
      endif()
    endforeach()
  endforeach()
  set(failures ${failures} PARENT_SCOPE)
endfunction()

set(no_files "/nlohmann/json\\.hpp$" "/lorakit/io/" "/fstream$" "/filesystem$")
lorakit_forbid(lorakit/layer.hpp "/lorakit/runtime/" ${no_files})
lorakit_forbid(lorakit/runtime.hpp ${no_files})

lorakit_dependencies(lorakit/lorakit.hpp deps)
foreach(header IN LISTS PUBLIC_HEADERS)
  if(NOT header STREQUAL "lorakit/lorakit.hpp" AND NOT "${SOURCE_DIR}/include/${header}" IN_LIST deps)
    list(APPEND failures "lorakit/lorakit.hpp does not include ${header}")
  endif()
endforeach()

if(failures)
  list(JOIN failures "\n  " message)
  message(FATAL_ERROR "include graph:\n  ${message}\n(g++ -H on the umbrella shows the chain)")
endif()
message(STATUS "include graph: layer.hpp and runtime.hpp stay clear of I/O and JSON, lorakit.hpp "
               "includes all public headers")
