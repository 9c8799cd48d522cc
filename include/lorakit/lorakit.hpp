// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The umbrella header: includes every public header of lorakit.
#pragma once

#include "lorakit/base/dense_linear.hpp"
#include "lorakit/base/function_linear.hpp"
#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/dtype.hpp"
#include "lorakit/core/shape.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/file_bytes.hpp"
#include "lorakit/io/load.hpp"
#include "lorakit/io/mlx.hpp"
#include "lorakit/io/peft.hpp"
#include "lorakit/io/safetensors.hpp"
#include "lorakit/kernels/default.hpp"
#include "lorakit/kernels/scalar.hpp"
#include "lorakit/kernels/simd.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/variants/all.hpp"
#include "lorakit/variants/lora.hpp"
#include "lorakit/version.hpp"
