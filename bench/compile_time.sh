#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The lorakit authors
# What including lorakit costs: the CPU time (user + sys) the compiler spends on each public
# header alone (-O2 -fsyntax-only) and on the host files in bench/compile_time/ (-O2 -c, so
# the templates they use are instantiated and compiled), as the median of several runs, printed
# as a markdown table with what each translation unit reaches (Eigen, xsimd, JSON, io/).
#
#   bench/compile_time.sh [runs]        (from the repository root; runs defaults to 3)
#
# Environment: CXX (default g++); CXXFLAGS, appended to the flags below (e.g. -march=native);
# EIGEN3_INCLUDE_DIR (default: pkg-config eigen3, else /usr/include/eigen3). xsimd and
# nlohmann/json are found on the compiler's default path, as Debian installs them. The flags
# are those the lorakit::lorakit target gives its users, plus -O2.
# shellcheck disable=SC2016  # backquotes in single quotes are markdown, not substitutions
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-3}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: bench/compile_time.sh [runs]" >&2
  exit 2
fi
cxx=${CXX:-g++}
eigen=${EIGEN3_INCLUDE_DIR:-$(pkg-config --variable=includedir eigen3 2>/dev/null || true)}
eigen=${eigen:-/usr/include/eigen3}
# shellcheck disable=SC2206  # CXXFLAGS is a list of flags
flags=(-std=c++20 -O2 -I "$root/include" -isystem "$eigen" ${CXXFLAGS:-})

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median_of <numbers...>: the middle value (the mean of the two middle ones for an even count).
median_of() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# cpu_seconds <compiler arguments...>: user + sys seconds of one compiler run; the compiler's
# diagnostics are printed and the script stops if it fails.
cpu_seconds() {
  local TIMEFORMAT='%3U %3S'
  if ! { time "$cxx" "${flags[@]}" "$@" >/dev/null 2>"$tmp/diagnostics"; } 2>"$tmp/time"; then
    cat "$tmp/diagnostics" >&2
    echo "compile_time.sh: the compiler failed on: $*" >&2
    exit 1
  fi
  awk '{ printf "%.2f", $1 + $2 }' "$tmp/time"
}

# reaches <source> [compiler arguments...]: which of the expensive dependencies the translation
# unit includes, from the compiler's dependency list.
reaches() {
  local source=$1 deps found=()
  shift
  deps=$("$cxx" "${flags[@]}" "$@" -M "$source" | tr ' ' '\n')
  grep -q '/Eigen/Core$' <<<"$deps" && found+=(Eigen)
  grep -q '/xsimd/xsimd\.hpp$' <<<"$deps" && found+=(xsimd)
  grep -q '/nlohmann/json\.hpp$' <<<"$deps" && found+=(JSON)
  grep -q '/lorakit/io/' <<<"$deps" && found+=(io/)
  local IFS=, list
  list="${found[*]:-none}"
  echo "${list//,/, }"
}

declare -A median
# row <label> <mode> <source> [compiler arguments...]: measures one translation unit, compiled
# with -fsyntax-only or to an object (-c), and prints its row.
row() {
  local label=$1 mode=$2 source=$3 times=() i
  shift 3
  local args=("$@" -fsyntax-only "$source")
  if [[ $mode == -c ]]; then args=("$@" -c "$source" -o "$tmp/host.o"); fi
  for ((i = 0; i < runs; ++i)); do times+=("$(cpu_seconds "${args[@]}")"); done
  median[$label]=$(median_of "${times[@]}")
  printf '| %s | %s | %s | %s | %s |\n' "$label" "$mode" "${median[$label]}" "${times[*]}" \
    "$(reaches "$source" "$@")"
}

echo "CPU seconds (user + sys) per translation unit, median of $runs runs; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "$("$cxx" --version | head -n 1); $(nproc) CPUs ($(grep -m 1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown))"
echo "flags: ${flags[*]/#$root\//}"
echo "load average at the start: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo
echo '| translation unit | mode | CPU s | runs | reaches |'
echo '|---|---|---|---|---|'

umbrellas=(lorakit/layer.hpp lorakit/runtime.hpp lorakit/io.hpp lorakit/lorakit.hpp)
mapfile -t headers < <(cd "$root/include" && find lorakit -name '*.hpp' -not -path '*/detail/*' |
  LC_ALL=C sort)
for header in "${umbrellas[@]}" "${headers[@]}"; do
  [[ -n ${median["\`$header\`"]:-} ]] && continue  # an umbrella, already measured
  printf '#include "%s"\n' "$header" >"$tmp/$(tr / _ <<<"$header").cpp"
  row "\`$header\`" -fsyntax-only "$tmp/$(tr / _ <<<"$header").cpp"
done
hosts=$root/bench/compile_time
row '`host_layer.cpp`: layer.hpp, one LoRALinear forward' -c "$hosts/host_layer.cpp"
row '`host_layer.cpp` with lorakit.hpp included first' -c "$hosts/host_layer.cpp" \
  -include lorakit/lorakit.hpp
row '`host_full.cpp`: lorakit.hpp, load_adapter + forward' -c "$hosts/host_full.cpp"

echo
echo "load average at the end: $(cut -d ' ' -f 1-3 /proc/loadavg)"
goal() {
  awk -v t="$2" -v g="$3" -v l="$1" \
    'BEGIN { printf "%s: %.2f s, goal < %s s: %s\n", l, t, g, (t < g) ? "met" : "NOT met" }'
}
goal 'layer path (lorakit/layer.hpp)' "${median['`lorakit/layer.hpp`']}" 2
goal 'umbrella (lorakit/lorakit.hpp)' "${median['`lorakit/lorakit.hpp`']}" 6
