// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The I/O umbrella: adapter files (safetensors, GGUF, HF PEFT, mlx-lm, load_adapter), run
// configuration files (read_run_config, attach_resolved) and the Adapter they load into. Of the
// smaller umbrellas, the only one that includes nlohmann/json.
#pragma once

#include "lorakit/io/assemble.hpp"
#include "lorakit/io/base_model.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/file_bytes.hpp"
#include "lorakit/io/gguf.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/io/gguf_names.hpp"
#include "lorakit/io/load.hpp"
#include "lorakit/io/mlx.hpp"
#include "lorakit/io/peft.hpp"
#include "lorakit/io/run_config.hpp"
#include "lorakit/io/safetensors.hpp"
#include "lorakit/io/scan.hpp"
#include "lorakit/runtime/adapter.hpp"
