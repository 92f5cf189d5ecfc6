# Helper of tools/bench/bench-query.sh, part B: p50/p95 of the search time of photo queries.
# argv: QUERY_OUT_JSONL
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"ms"' in l]
v = sorted(r["ms"]["search"] for r in rows)
print("  exact search over the reduced vectors: p50 %.2f ms, p95 %.2f ms" % (v[len(v) // 2], v[min(len(v) - 1, int(.95 * (len(v) - 1) + .5))]))
