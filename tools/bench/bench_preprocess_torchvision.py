# Helper of tools/bench/bench-preprocess.sh: PIL + torchvision on the same JPEGs, 1 thread; prints seconds.
# argv: WORK
import sys, time, glob, torch
from PIL import Image
from torchvision import transforms
torch.set_num_threads(1)
t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
files = sorted(glob.glob(sys.argv[1] + "/img/*.jpg"))
t0 = time.perf_counter()
for f in files:
    t(Image.open(f).convert("RGB"))
print(time.perf_counter() - t0)
