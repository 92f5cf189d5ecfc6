#!/usr/bin/env python3
"""tools/bench/scale.sh's bookkeeping (a benchmark helper, not a test).

collect DIR ITEMS INDEX   one JSON line for one size: wall time and max RSS of every command, the
                          recommend manifest's phases (seconds, peak RSS at each phase's end),
                          counts, visual index and recall, output sizes, evaluate's headline metrics
report JSONL OUT MACHINE  OUT/scale.md (table, fitted exponents) and OUT/scale.png (log-log)
"""
import glob
import json
import math
import os
import sys

PHASES = ["read_interactions", "histories", "collaborative", "visual", "text", "hybrid", "users", "outputs"]
LABEL = {"read_interactions": "read", "collaborative": "CF", "users": "scoring", "outputs": "writing"}


def timed(d, name):
    with open(os.path.join(d, name + ".time")) as f:
        secs, kb = f.read().split()[-2:]
    return {"seconds": float(secs), "max_rss_mb": int(kb) // 1024}


def latest(d, stage):
    base = os.path.join(d, "work", stage)
    with open(os.path.join(base, "latest")) as f:
        return os.path.join(base, f.read().strip())


def collect(d, items, index):
    rec = latest(d, "recommend")
    with open(os.path.join(rec, "manifest.json")) as f:
        m = json.load(f)
    ev = latest(d, "evaluate")
    with open(os.path.join(ev, "report.json")) as f:
        report = json.load(f)
    with open(os.path.join(d, "inputs.out")) as f:
        inputs = f.read().strip()
    sizes = {os.path.basename(p): os.path.getsize(p) for p in glob.glob(os.path.join(rec, "*")) if os.path.isfile(p)}
    row = {
        "items": int(items),
        "inputs": inputs,
        "interactions_csv_mb": os.path.getsize(os.path.join(d, "interactions.csv")) / 2**20,
        "visual_index": m["extra"]["visual_index"],
        "counts": m["counts"],
        "timings_s": m["timings_s"],
        "peak_rss_mb": m["extra"].get("peak_rss_mb", {}),
        "output_mb": {k: v / 2**20 for k, v in sorted(sizes.items())},
        "commands": {c: timed(d, c) for c in ("inputs", "split", "recommend", "evaluate")},
        "metrics": {"hr": report["model"]["hr"], "ndcg": report["model"]["ndcg"],
                    "popularity_hr": report["popularity"]["hr"], "users": report["users_evaluated"],
                    "k": report["k"]},
    }
    print(json.dumps(row, sort_keys=True))


def slope(xs, ys):
    """Least-squares slope of log y on log x (the exponent of y ~ x^e)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx > 0 else None


def report(jsonl, out, machine):
    rows = [json.loads(line) for line in open(jsonl) if line.strip()]
    rows.sort(key=lambda r: r["items"])
    with open(machine) as f:
        machine_line = f.read().strip()
    items = [r["items"] for r in rows]
    lines = [f"Machine: {machine_line}", ""]
    lines.append("| items | users | interactions (train) | visual | split s (MB) | recommend s (MB) | evaluate s (MB) | recommendations.csv MB | similar_items.csv MB |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        vi = r["visual_index"]
        vis = vi.get("kind", "?") + (f" ({vi['kernel']})" if "kernel" in vi else "")
        if "recall_at_k" in vi:
            vis += f", recall@{vi['k']} {vi['recall_at_k']:.3f}"
        c = r["counts"]
        run = lambda name: f"{r['commands'][name]['seconds']:.1f} ({r['commands'][name]['max_rss_mb']:,})"
        lines.append(f"| {r['items']:,} | {c.get('users', '?'):,} | {c.get('interactions', '?'):,} | {vis} | "
                     f"{run('split')} | {run('recommend')} | {run('evaluate')} | "
                     f"{r['output_mb'].get('recommendations.csv', 0):.0f} | {r['output_mb'].get('similar_items.csv', 0):.0f} |")
    lines += ["", "Seconds and max RSS MB of each command (`/usr/bin/time`). Seconds by recommend phase (peak RSS MB of the "
              "process at the phase's end), and the fitted exponent e of time ~ items^e (least squares over the sizes):", ""]
    lines.append("| phase | " + " | ".join(f"{n:,}" for n in items) + " | e |")
    lines.append("|---|" + "---|" * (len(items) + 1))
    for p in PHASES + ["total"]:
        ts = [r["timings_s"].get(p, 0.0) for r in rows]
        e = slope(items, ts)
        cells = []
        for r, t in zip(rows, ts):
            mb = r["peak_rss_mb"].get(p)
            cells.append(f"{t:.2f}" + (f" ({mb:,})" if mb is not None else ""))
        lines.append(f"| {LABEL.get(p, p)} | " + " | ".join(cells) + f" | {'' if e is None else f'{e:.2f}'} |")
    lines += ["", "evaluate, held-out last interaction per user: " + "; ".join(
        f"{r['items']:,} items: HR@{r['metrics']['k']} {r['metrics']['hr']:.4f} (popularity {r['metrics']['popularity_hr']:.4f}) "
        f"over {r['metrics']['users']:,} users" for r in rows)]
    with open(os.path.join(out, "scale.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("scale: no matplotlib (tools/install-deps.sh --bench); no plot", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in PHASES + ["total"]:
        ts = [r["timings_s"].get(p, 0.0) for r in rows]
        if max(ts) <= 0:
            continue
        e = slope(items, ts)
        ax.loglog(items, [max(t, 1e-3) for t in ts], marker="o",
                  label=f"{LABEL.get(p, p)} (e={e:.2f})" if e is not None else LABEL.get(p, p),
                  linewidth=2.5 if p == "total" else 1.2)
    ax.set_xlabel("items (users = 5x, interactions = 50x)")
    ax.set_ylabel("seconds")
    ax.set_title("visrec recommend: time by phase")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "scale.png"), dpi=110)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "collect":
        collect(*sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "report":
        report(*sys.argv[2:])
    else:
        sys.exit(__doc__)
