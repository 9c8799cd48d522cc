// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The runtime umbrella: the layer umbrella plus Model, Adapter, targeting, combine and run
// configuration (resolve), for a host that builds or receives its adapters in memory; no file
// loaders, no JSON.
#pragma once

#include "lorakit/layer.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/base_model.hpp"
#include "lorakit/runtime/check.hpp"
#include "lorakit/runtime/combine.hpp"
#include "lorakit/runtime/discovery.hpp"
#include "lorakit/runtime/model.hpp"
#include "lorakit/runtime/run_config.hpp"
#include "lorakit/runtime/targeting.hpp"
