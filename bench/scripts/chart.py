#!/usr/bin/env python3
"""Draws throughput against clients, one panel per workload, from omring-bench's results.json.

Usage: chart.py results.json throughput.png   (needs matplotlib; setup-peers.sh installs it)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [
    ("key-create-commit", "Key create+commit (open+commit)"),
    ("bucket-create", "Bucket create"),
    ("write-256B", "Single replicated 256-byte write"),
    ("linearizable-read", "Linearizable read"),
]
STYLE = {
    "omring": ("omring", "tab:blue", "o"),
    "etcd": ("etcd 3.6", "tab:green", "s"),
    "ozone": ("Ozone OM (OmDriver)", "tab:red", "^"),
    "ozone-freon": ("Ozone OM (freon)", "tab:orange", "v"),
    "omring-freon": ("omring (freon)", "tab:blue", "v"),
}


def main(src, dst):
    with open(src) as f:
        res = json.load(f)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (workload, title) in zip(axes.flat, PANELS):
        for system, (label, color, marker) in STYLE.items():
            pts = sorted(
                (r["clients"], r["ops_per_sec"])
                for r in res["rows"]
                if r["system"] == system and r["workload"] == workload and r["ops"] > 0
            )
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, label=label)
        ax.set_title(title)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("ops/s")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    meta = res.get("meta", {})
    fig.suptitle(
        f"3 voters on loopback, fsync on, {meta.get('cpus', '?')} CPUs; load at start {meta.get('load_at_start', '?')}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
