# Helper of tools/bench/bench-query.sh, part A: p50/p95 of photo queries from `query --batch --json` output.
# argv: QUERY_OUT_JSONL
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"ms"' in l]
def p(key, q):
    v = sorted(r["ms"][key] for r in rows); return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]
print("  photo queries: %d; p50 total %.1f ms (preprocess %.1f, model %.1f, projection %.2f, search %.2f), p95 total %.1f ms"
      % (len(rows), p("total", .5), p("preprocess", .5), p("model", .5), p("project", .5), p("search", .5), p("total", .95)))
