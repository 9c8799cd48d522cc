#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The lorakit authors
# Installs the Debian 12 packages lorakit needs to build, test and benchmark.
# Idempotent: when every package is already installed it returns at once.
# Usage: cmake/install-deps.sh            (as root, or a user with sudo)
set -euo pipefail

packages=(
  g++ make cmake ninja-build               # toolchain
  libeigen3-dev nlohmann-json3-dev         # library dependencies
  libxsimd-dev xtl-dev
  catch2 libbenchmark-dev                  # tests and benchmarks
  clang-14 clang-format-14                 # second compiler, formatting check
  libclang-rt-14-dev                       # clang sanitizer and libFuzzer runtimes
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}); run this script as root or install sudo" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
