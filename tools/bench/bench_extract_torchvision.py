# Helper of tools/bench/bench-extract.sh: the plain PIL + torchvision pipeline, sequential; prints images/s.
# argv: CATALOG_CSV MODEL
import sys, csv, os, time, torch, torchvision
from PIL import Image
from torchvision import transforms
torch.set_num_threads(2)
rows = list(csv.DictReader(open(sys.argv[1])))
base = os.path.dirname(sys.argv[1])
m = getattr(torchvision.models, sys.argv[2])(weights=None).eval()
m.fc = torch.nn.Identity()
t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
t0 = time.perf_counter()
with torch.no_grad():
    for r in rows:
        m(t(Image.open(os.path.join(base, r["image"])).convert("RGB")).unsqueeze(0))
print(len(rows) / (time.perf_counter() - t0))
