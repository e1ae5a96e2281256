#!/usr/bin/env python3
"""Draws how omring's costs grow with the namespace, from `omring-bench scale`'s scale.json.

Usage: scale_chart.py scale.json scale.png   (needs matplotlib; setup-peers.sh installs it)

One panel per figure, one line per shape; a point is the median over the repeats, the bar spans
the smallest to the largest repeat (as throughput.png does).
"""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (title, y label, measure or None for points, value of one sample)
PANELS = [
    ("Key create (open+commit)", "ops/s", "create", lambda s: s["ops_per_sec"] if s["ops"] > 0 else None),
    ("Key lookup (linearizable)", "ops/s", "lookup", lambda s: s["ops_per_sec"] if s["ops"] > 0 else None),
    ("p99 latency: create, lookup", "ms", None, None),
    ("List one 1,000-key page, p50", "ms", "list", lambda s: s.get("p50_ms")),
    ("RSS per voter (largest)", "MiB", None, None),
    ("Disk per voter (largest)", "MiB", None, None),
    ("New follower catch-up by snapshot", "s", "catch-up", lambda s: s["secs"]),
    ("Follower restart to ready", "s", "restart", lambda s: s["secs"]),
]
COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red"]


def series(res, shape, measure, value):
    """x: keys at the point of each size; y: median, low, high of the repeats."""
    xs, med, lo, hi = [], [], [], []
    for p in res["points"]:
        if p["shape"] != shape:
            continue
        vals = [
            v
            for s in res["samples"]
            if s["shape"] == shape and s["target_keys"] == p["target_keys"] and s["measure"] == measure
            for v in [value(s)]
            if v is not None
        ]
        if vals:
            m = statistics.median(vals)
            xs.append(p["keys"])
            med.append(m)
            lo.append(m - min(vals))
            hi.append(max(vals) - m)
    return xs, med, lo, hi


def main(src, dst):
    with open(src) as f:
        res = json.load(f)
    shapes = []
    for p in res["points"]:
        if p["shape"] not in shapes:
            shapes.append(p["shape"])
    fig, axes = plt.subplots(2, 4, figsize=(18, 8), sharex=True)
    keys = [p["keys"] for p in res["points"]] or [0]
    for ax, (title, unit, measure, value) in zip(axes.flat, PANELS):
        for i, shape in enumerate(shapes):
            color = COLORS[i % len(COLORS)]
            if measure is not None:
                xs, med, lo, hi = series(res, shape, measure, value)
                if xs:
                    ax.errorbar(xs, med, yerr=[lo, hi], marker="o", color=color, label=shape, capsize=3)
            elif title.startswith("p99"):
                for m, style in (("create", "-"), ("lookup", "--")):
                    xs, med, lo, hi = series(res, shape, m, lambda s: s.get("p99_ms"))
                    if xs:
                        ax.errorbar(
                            xs, med, yerr=[lo, hi], marker="o", linestyle=style, color=color,
                            label=f"{shape} {m}", capsize=3,
                        )
            else:
                pts = [p for p in res["points"] if p["shape"] == shape]
                if title.startswith("RSS"):
                    ys = [max((v for _, v in p["rss_mib"]), default=0) for p in pts]
                else:
                    ys = [max((d["bytes"] for d in p["disk"]), default=0) / 1048576 for p in pts]
                if pts:
                    ax.plot([p["keys"] for p in pts], ys, marker="o", color=color, label=shape)
        ax.set_title(title, fontsize=10)
        ax.set_xscale("symlog", linthresh=1000)
        ax.set_xlim(min(keys) - 0.5, max(keys) * 1.5 + 1)
        ax.set_xlabel("keys in the namespace")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    meta = res.get("meta", {})
    fig.suptitle(
        f"omring, 3 voters on loopback, fsync on, {meta.get('cpus', '?')} CPUs; commit {meta.get('git_commit', '?')[:10]}"
        f"{' (dirty)' if meta.get('git_dirty') else ''}; load at start {meta.get('load_at_start', '?')}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
