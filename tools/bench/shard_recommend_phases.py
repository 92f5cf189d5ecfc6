# Helper of tools/bench/shard-recommend.sh: phase times of the unsharded run, each shard and part, and the merge.
# argv: UNSHARDED_MANIFEST MERGED_MANIFEST SHARDED_RECOMMEND_DIR SHARDS PARTS
import json, sys, os
one, merged = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
fmt = lambda t: ", ".join(f"{k} {v:.1f}" for k, v in t.items() if k != "total")
print("unsharded phases (s):", fmt(one["timings_s"]))
d, n, m_parts = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
for kind, count in (("shard", n), ("part", m_parts)):
    for i in range(count):
        m = json.load(open(os.path.join(d, open(os.path.join(d, f"latest.{kind}-{i}-of-{count}")).read().strip(), "manifest.json")))
        print(f"{kind} {i}/{count} phases (s):", fmt(m["timings_s"]))
print("merge phases (s):", fmt(merged["timings_s"]))
