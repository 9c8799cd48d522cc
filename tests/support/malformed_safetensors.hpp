// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Malformed safetensors files the reader must refuse, with the error each must give. Shared by
// the table-driven test and the fuzzers' seed corpus.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lorakit/error.hpp"
#include "raw_bytes.hpp"

namespace lorakit::test {

struct MalformedCase {
  const char* what;
  std::vector<std::byte> bytes;
  lorakit::Errc code;
  const char* fragment;  ///< a piece of the message the error must contain
};

inline std::vector<MalformedCase> malformed_safetensors() {
  const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  return {
      {"shorter than 8 bytes", std::vector<std::byte>(5), lorakit::Errc::bad_format,
       "shorter than"},
      {"header length above the limit", raw_safetensors("{}", 0, std::uint64_t{1} << 40),
       lorakit::Errc::limit_exceeded, "exceeds the limit"},
      {"header length past the end", raw_safetensors("{}", 0, 100), lorakit::Errc::bad_format,
       "runs past the end"},
      {"header not an object", raw_safetensors("[1,2]", 0), lorakit::Errc::bad_format,
       "start with '{'"},
      {"invalid JSON", raw_safetensors("{\"t\":", 0), lorakit::Errc::bad_format, "not valid JSON"},
      {"entry not an object", raw_safetensors(R"({"t":3})", 0), lorakit::Errc::bad_format,
       "not an object"},
      {"missing dtype", raw_safetensors(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4),
       lorakit::Errc::bad_format, "'dtype'"},
      {"unknown dtype",
       raw_safetensors(R"({"t":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}})", 4),
       lorakit::Errc::bad_format, "unknown dtype 'F7'"},
      {"negative dimension",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       lorakit::Errc::bad_format, "non-negative integer"},
      {"fractional dimension",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
       lorakit::Errc::bad_format, "non-negative integer"},
      {"three data offsets",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 8),
       lorakit::Errc::bad_format, "two non-negative integers"},
      {"negative data offset",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 8),
       lorakit::Errc::bad_format, "two non-negative integers"},
      {"offsets end before they begin",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8),
       lorakit::Errc::bad_format, "end before they begin"},
      {"byte count disagrees with the shape",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       lorakit::Errc::bad_format, "needs 12"},
      {"data past the end of the file",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
       lorakit::Errc::bad_format, "past the 8-byte data section"},
      {"two tensors overlap",
       raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       12),
       lorakit::Errc::bad_format, "overlaps tensor 'a'"},
      {"shape product overflows",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
                       R"("data_offsets":[0,0]}})",
                       0),
       lorakit::Errc::bad_format, "overflows"},
      {"too many dimensions",
       raw_safetensors(R"({"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],)"
                       R"("data_offsets":[0,4]}})",
                       4),
       lorakit::Errc::limit_exceeded, "dimensions"},
      {"metadata not an object", raw_safetensors(R"({"__metadata__":3,)" + ok_entry + "}", 8),
       lorakit::Errc::bad_format, "__metadata__"},
      {"metadata value not a string",
       raw_safetensors(R"({"__metadata__":{"k":1},)" + ok_entry + "}", 8),
       lorakit::Errc::bad_format, "value of 'k' is not a string"},
      {"a name used twice", raw_safetensors("{" + ok_entry + "," + ok_entry + "}", 8),
       lorakit::Errc::bad_format, "names 't' twice"},
  };
}

}  // namespace lorakit::test
