# Helper of tools/bench/measure-sample.sh: one markdown table row from an evaluate report.json.
# argv: LABEL REPORT_JSON
import json, sys
label, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
m, c, s = r["model"], r["cold_start"]["model"], r["same_label_precision"]
print(f"| {label} | {m['hr']:.4f} | {m['ndcg']:.4f} | {m['map']:.4f} | {c['hr']:.4f} | "
      f"{s.get('visual', float('nan')):.3f} | {s.get('hybrid', float('nan')):.3f} |")
