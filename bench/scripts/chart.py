#!/usr/bin/env python3
"""Draws throughput against clients, one panel per workload, from omring-bench's results.json.

Usage: chart.py results.json throughput.png   (needs matplotlib; setup-peers.sh installs it)
"""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [
    ("key-create-commit", "Key create+commit (open+commit)"),
    ("bucket-create", "Bucket create"),
    ("write-256B", "Single replicated 256-byte write"),
    ("linearizable-read", "Linearizable read"),
    ("om-echo", "freon om-echo --ratis (a log entry, no state change)"),
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
    fig, axes = plt.subplots(2, 3, figsize=(16, 8))
    axes.flat[-1].set_visible(False)
    for ax, (workload, title) in zip(axes.flat, PANELS):
        for system, (label, color, marker) in STYLE.items():
            # Every repeat of a step: the line joins the medians, the bar spans min to max.
            by_clients = {}
            for r in res["rows"]:
                if r["system"] == system and r["workload"] == workload and r["ops"] > 0:
                    by_clients.setdefault(r["clients"], []).append(r["ops_per_sec"])
            if by_clients:
                xs = sorted(by_clients)
                meds = [statistics.median(by_clients[c]) for c in xs]
                lo = [m - min(by_clients[c]) for m, c in zip(meds, xs)]
                hi = [max(by_clients[c]) - m for m, c in zip(meds, xs)]
                ax.errorbar(xs, meds, yerr=[lo, hi], marker=marker, color=color, label=label, capsize=3)
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
