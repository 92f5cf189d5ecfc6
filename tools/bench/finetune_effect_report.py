# Helper of tools/bench/finetune-effect.sh: the table (label precision, HR/NDCG, finetune accuracy and time).
# argv: WORKDIR REC_UNTRAINED REC_HEAD REC_LAST_BLOCK LABEL
import glob, json, os, sys
w, rec_none, rec_head, rec_last, label = sys.argv[1:6]
def report_of(rec):  # the evaluate artifact made from this recommend artifact, with label items
    for m in glob.glob(os.path.join(w, "evaluate", "*", "manifest.json")):
        man = json.load(open(m))
        ins = {i["role"]: i for i in man["inputs"]}
        same = os.path.realpath(ins.get("recommend", {}).get("path", "")) == os.path.realpath(rec)
        if same and "label_items" in ins:
            return json.load(open(os.path.join(os.path.dirname(m), "report.json")))
    sys.exit("no evaluate artifact with --label-items for " + rec)
def finetune_of(rec):
    man = json.load(open(os.path.join(rec, "manifest.json")))
    red = [i["path"] for i in man["inputs"] if i["role"] == "reduce"][0]
    ex = [i["path"] for i in json.load(open(os.path.join(red, "manifest.json")))["inputs"] if i["role"] == "extract"][0]
    wts = [i["path"] for i in json.load(open(os.path.join(ex, "manifest.json")))["inputs"] if i["role"] == "weights"]
    return json.load(open(os.path.join(os.path.dirname(wts[0]), "manifest.json"))) if wts else None
print(f"same-{label} precision@10 of similar items over finetune's held-out test items; HR/NDCG@10 on held-out purchases")
print(f"{'features':<34}{'items':>6}{'visual':>8}{'hybrid':>8}{'HR@10':>8}{'NDCG@10':>9}{'test acc':>9}{'train s':>9}")
for name, rec in (("untrained ResNet-18", rec_none), ("fine-tuned: head only", rec_head),
                  ("fine-tuned: last block + head", rec_last)):
    r, ft = report_of(rec), finetune_of(rec)
    p = r["same_label_precision"]
    acc = f"{ft['extra']['test_accuracy']:.3f}" if ft else "-"
    secs = f"{ft['timings_s']['total']:.0f}" if ft else "-"
    print(f"{name:<34}{r['label_items']['found']:>6}{p['visual']:>8.3f}{p['hybrid']:>8.3f}"
          f"{r['model']['hr']:>8.4f}{r['model']['ndcg']:>9.4f}{acc:>9}{secs:>9}")
