// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Version numbers of this copy of lorakit.
#pragma once

#include <string_view>

#define LORAKIT_VERSION_MAJOR 0
#define LORAKIT_VERSION_MINOR 1
#define LORAKIT_VERSION_PATCH 0

namespace lorakit {

/// The library version as "major.minor.patch".
inline constexpr std::string_view version = "0.1.0";

}  // namespace lorakit
