// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The umbrella header: includes every public header of lorakit. Hosts that need less include
// one of the smaller umbrellas it is made of: lorakit/layer.hpp (layers, variants, bases,
// kernels), lorakit/runtime.hpp (that plus Model, Adapter and targeting) or lorakit/io.hpp
// (adapter files; the only one that brings in nlohmann/json).
#pragma once

#include "lorakit/io.hpp"
#include "lorakit/layer.hpp"
#include "lorakit/runtime.hpp"
