# Helper of tools/bench/measure-sample.sh: the popularity/random baselines and text/CF label precision line.
# argv: REPORT_JSON
import json, sys
r = json.load(open(sys.argv[1]))
print(f"popularity baseline HR@10 {r['popularity']['hr']:.4f} NDCG@10 {r['popularity']['ndcg']:.4f}; "
      f"random HR@10 {r['random']['hr']:.4f}; same-category P@10 text {r['same_label_precision']['text']:.3f}, "
      f"collaborative {r['same_label_precision']['collaborative']:.3f}")
