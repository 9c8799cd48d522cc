#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The lorakit authors
"""Turns bench_kernels and bench_roofline JSON output into the markdown table of bench/README.md.

Usage: roofline_table.py kernels.json roofline.json

For each shape: Eigen, lorakit SIMD and scalar medians, the SIMD/Eigen ratio measured in the
same run, GFLOP/s, and the fraction of the bound that applies: the largest of (FLOPs / FMA
peak), (adapter bytes / bandwidth of where the adapter sits: L2 when it fits 1 MiB, L3 when it
fits 32 MiB, DRAM when cold) and (one read of x plus one read and one write of y / bandwidth
of where they sit).
"""
import json
import re
import sys

L2_BYTES = 1 << 20
L3_BYTES = 32 << 20


def medians(path):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            out[b["run_name"]] = b
    return out


def main():
    kernels = medians(sys.argv[1])
    roof = medians(sys.argv[2])
    peak = roof["BM_FmaPeak"]["FLOPS"]
    bw = {
        "L2": roof["BM_ReadBandwidth/524288"]["bytes_per_second"],
        "L3": roof["BM_ReadBandwidth/8388608"]["bytes_per_second"],
        "DRAM": roof["BM_ReadBandwidth/1073741824"]["bytes_per_second"],
    }

    def level(nbytes, cold):
        if cold:
            return "DRAM"
        return "L2" if nbytes <= L2_BYTES else ("L3" if nbytes <= L3_BYTES else "DRAM")

    shapes = []
    for name in kernels:
        m = re.match(r"BM_LowRank/simd/(warm|cold)/n:(\d+)/in:(\d+)/out:(\d+)/r:(\d+)/real_time", name)
        if m:
            shapes.append((m.group(1), *map(int, m.groups()[1:])))
    print("| temp | n | in | out | r | Eigen µs | simd µs | scalar µs | simd / Eigen | GFLOP/s "
          "| bound | % of bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for temp, n, i, o, r in shapes:
        key = f"{temp}/n:{n}/in:{i}/out:{o}/r:{r}/real_time"
        simd = kernels[f"BM_LowRank/simd/{key}"]
        eigen = kernels[f"BM_LowRank/eigen/{key}"]
        scalar = kernels.get(f"BM_LowRank/scalar/{key}")
        t = simd["real_time"] * 1e-6
        flops = 2.0 * n * r * (i + o)
        adapter = 4.0 * r * (i + o)
        act = 4.0 * n * (i + 2 * o)
        bounds = {
            "FMA": flops / peak,
            "adapter " + level(adapter, temp == "cold"): adapter / bw[level(adapter, temp == "cold")],
            "x,y " + level(act, False): act / bw[level(act, False)],
        }
        which = max(bounds, key=bounds.get)
        print(f"| {temp} | {n} | {i} | {o} | {r} | {eigen['real_time']:.1f} | {simd['real_time']:.1f} | "
              f"{scalar['real_time']:.1f} | " if scalar else
              f"| {temp} | {n} | {i} | {o} | {r} | {eigen['real_time']:.1f} | {simd['real_time']:.1f} | - | ",
              end="")
        print(f"{eigen['real_time'] / simd['real_time']:.2f} | {flops / t / 1e9:.1f} | {which} | "
              f"{100 * bounds[which] / t:.0f}% |")
    print()
    print("| n=1 cold, 16-bit storage | in | out | r | f32 µs | bf16 µs | bf16 / f32 | f16 µs | f16 / f32 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for temp, n, i, o, r in shapes:
        if temp != "cold" or n != 1:
            continue
        key = f"cold/n:1/in:{i}/out:{o}/r:{r}/real_time"
        f32 = kernels[f"BM_LowRank/simd/{key}"]["real_time"]
        bf = kernels[f"BM_LowRank/simd_bf16/{key}"]["real_time"]
        f16 = kernels[f"BM_LowRank/simd_f16/{key}"]["real_time"]
        print(f"| | {i} | {o} | {r} | {f32:.1f} | {bf:.1f} | {f32 / bf:.2f} | {f16:.1f} | {f32 / f16:.2f} |")


if __name__ == "__main__":
    main()
