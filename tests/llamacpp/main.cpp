// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The judge test's runner: skips (exit 77, CTest's SKIP_RETURN_CODE) when llama.cpp cannot run
// here, or fails when LORAKIT_LLAMACPP_REQUIRED is set (CI), then runs the Catch2 session.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "judge.hpp"

namespace {
constexpr int kSkipped = 77;
}

int main(int argc, char* argv[]) {
  const std::string why = lorakit::test::judge::unavailable();
  if (!why.empty()) {
    const char* required = std::getenv("LORAKIT_LLAMACPP_REQUIRED");
    if (required != nullptr && *required != '\0' && std::string_view(required) != "0") {
      std::cerr << "FAILED: llama.cpp cannot judge here and LORAKIT_LLAMACPP_REQUIRED is set: "
                << why << "\n";
      return 1;
    }
    std::cout << "SKIPPED: llama.cpp cannot judge here: " << why << "\n";
    return kSkipped;
  }
  return Catch::Session().run(argc, argv);
}
