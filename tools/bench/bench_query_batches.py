# Helper of tools/bench/bench-query.sh, part B: writes WORK/{item,user,image}.batch.
# argv: RECOMMEND_ARTIFACT WORK NQ IMAGES_DIR
import os, random, sys
rec, work, nq, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
random.seed(1)
ids = open(os.path.join(rec, "ids.txt")).read().split()
users = open(os.path.join(rec, "users.txt")).read().split()
with open(os.path.join(work, "item.batch"), "w") as f:
    f.writelines(f"item {i}\n" for i in random.sample(ids, 1000))
with open(os.path.join(work, "user.batch"), "w") as f:
    f.writelines(f"user {u}\n" for u in random.sample(users, min(1000, len(users))))
photos = sorted(os.listdir(images))
with open(os.path.join(work, "image.batch"), "w") as f:
    f.writelines(f"image {os.path.join(images, p)}\n" for p in random.sample(photos, nq))
print(f"  {len(ids)} items, {len(users)} users in {rec}")
