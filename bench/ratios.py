"""The summary the speed benchmarks print: the median seconds of dfkd and
of each PyTorch reference, dfkd's speed-up over each, and the GFLOP/s each
achieves (the reference workload's FLOPs over each side's time).

usage: ratios.py LABEL FLOPS "DFKD SECONDS..." [NAME "SECONDS..."]..."""

import statistics
import sys

label, flops, d, rest = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
med = lambda a: statistics.median(map(float, a.split()))
g = lambda s: flops / s / 1e9
d = med(d)
print(f"{label}: {flops / 1e9:.0f} GFLOP")
print(f"  {'dfkd':28}{d:7.3f} s  {g(d):6.1f} GFLOP/s")
for name, times in zip(rest[::2], rest[1::2]):
    t = med(times)
    print(f"  {name:28}{t:7.3f} s  {g(t):6.1f} GFLOP/s  -> dfkd is {t / d:.2f}x faster")
