# Helper of tools/gpu-check.sh run: one line on the finetune artifact (epochs, img/s, cache pass, accuracy).
# argv: FINETUNE_ARTIFACT
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
h = m["extra"]["history"]
print(f"finetune last-block bf16 on {m['producer']['device']}: {len(h)} epochs, "
      f"{h[-1]['images_per_second']:.0f} img/s in the last, cache pass {m['timings_s']['cache']:.1f} s, "
      f"test accuracy {m['extra']['test_accuracy']:.3f} (untrained start, tiny catalog)")
