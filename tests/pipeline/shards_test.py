#!/usr/bin/env python3
"""The sharded nightly DAG equals one unsharded run (issues: nightly runs and sharding; scale).

  shards_test.py VISREC

Runs the cluster example scripts as separate, concurrent processes, the way a Kubernetes Indexed
Job (JOB_COMPLETION_INDEX) or a Slurm array (SLURM_ARRAY_TASK_ID) would start them: 3 copies of
tools/cluster/shard-worker.sh into one workdir, then tools/cluster/merge.sh, then 3 copies of
tools/cluster/recommend-worker.sh, then 2 copies of tools/cluster/score-worker.sh (user parts), then
tools/cluster/recommend-merge.sh with both. Compares the merged
extract outputs, the reduced vectors and every recommend output byte for byte with an unsharded run,
and checks what the merges refuse.
Both sides use --batch-size 1 and one thread per process, so a photo's feature does not depend on
which other photos share its batch or on the thread count (float summation order).
"""
import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARDS = 3
PARTS = 2


def main(argv):
    visrec = os.path.abspath(argv[1])
    failures = []
    with tempfile.TemporaryDirectory(prefix="visrec-shards.") as tmp:
        def run(args, env=None, check=True):
            p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
            if check and p.returncode != 0:
                raise SystemExit(f"{' '.join(args)} exited {p.returncode}:\n{p.stderr[-1500:]}")
            return p

        run([visrec, "sample", "--out", f"{tmp}/cat", "--items", "30", "--users", "40", "--min-side", "64",
             "--max-side", "96", "-q"])
        catalog, interactions = f"{tmp}/cat/catalog.csv", f"{tmp}/cat/interactions.csv"
        pre_args = ["--resize", "40", "--crop", "32", "--max-failed-fraction", "0.5", "--threads", "1", "-q"]
        ex_args = ["--batch-size", "1", "--max-failed-fraction", "0.5", "--threads", "1", "-q"]
        red_args = ["--dims", "6", "-q"]
        rec_args = ["-q"]

        # Unsharded reference.
        one = f"{tmp}/one"
        run([visrec, "preprocess", "--catalog", catalog, "--workdir", one] + pre_args)
        run([visrec, "extract", "--workdir", one] + ex_args)
        run([visrec, "reduce", "--workdir", one] + red_args)
        run([visrec, "recommend", "--workdir", one, "--interactions", interactions, "--catalog", catalog] + rec_args)

        # Sharded: concurrent workers through the example scripts.
        many = f"{tmp}/many"
        env = dict(os.environ, VISREC=visrec, VISREC_PREPROCESS_ARGS=" ".join(pre_args),
                   VISREC_EXTRACT_ARGS=" ".join(ex_args), VISREC_REDUCE_ARGS=" ".join(red_args),
                   VISREC_RECOMMEND_ARGS=" ".join(rec_args))
        procs = []
        for i in range(SHARDS):
            e = dict(env)
            e["SLURM_ARRAY_TASK_ID" if i == SHARDS - 1 else "JOB_COMPLETION_INDEX"] = str(i)
            procs.append(subprocess.Popen([f"{ROOT}/tools/cluster/shard-worker.sh", str(SHARDS), catalog, many], env=e,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=900)
            if p.returncode != 0:
                raise SystemExit(f"shard {i} exited {p.returncode}:\n{err[-1500:]}")

        def latest(workdir, stage, pointer="latest"):
            d = os.path.join(workdir, stage)
            return os.path.join(d, open(os.path.join(d, pointer)).read().strip())

        sizes = []
        for i in range(SHARDS):
            ids = open(os.path.join(latest(many, "extract", f"latest.shard-{i}-of-{SHARDS}"), "ids.txt")).read().split()
            sizes.append(len(ids))
        total = len(open(os.path.join(latest(one, "extract"), "ids.txt")).read().split())
        if sum(sizes) != total or min(sizes) == 0:
            failures.append(f"shard sizes {sizes} do not partition the {total} items")
        if os.path.exists(os.path.join(many, "extract", "latest")):
            failures.append("a shard moved the unsharded 'latest' pointer")

        env["VISREC_RECOMMEND_SHARDED"] = "1"  # merge.sh stops after reduce; recommend runs sharded below
        run([f"{ROOT}/tools/cluster/merge.sh", str(SHARDS), catalog, interactions, many], env=env)
        if os.path.exists(os.path.join(many, "recommend")):
            failures.append("merge.sh ran recommend although VISREC_RECOMMEND_SHARDED=1")
        procs = []
        for i in range(SHARDS):
            e = dict(env)
            e["JOB_COMPLETION_INDEX" if i == 0 else "SLURM_ARRAY_TASK_ID"] = str(i)
            procs.append(subprocess.Popen([f"{ROOT}/tools/cluster/recommend-worker.sh", str(SHARDS), catalog, interactions,
                                           many], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=900)
            if p.returncode != 0:
                raise SystemExit(f"recommend shard {i} exited {p.returncode}:\n{err[-1500:]}")
        if os.path.exists(os.path.join(many, "recommend", "latest")):
            failures.append("a recommend shard moved the unsharded 'latest' pointer")
        procs = []
        for j in range(PARTS):
            e = dict(env)
            e["JOB_COMPLETION_INDEX" if j == 0 else "SLURM_ARRAY_TASK_ID"] = str(j)
            procs.append(subprocess.Popen([f"{ROOT}/tools/cluster/score-worker.sh", str(SHARDS), str(PARTS), catalog,
                                           interactions, many], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
        for j, p in enumerate(procs):
            out, err = p.communicate(timeout=900)
            if p.returncode != 0:
                raise SystemExit(f"score part {j} exited {p.returncode}:\n{err[-1500:]}")
            if not os.path.exists(os.path.join(many, "recommend", f"latest.part-{j}-of-{PARTS}")):
                failures.append(f"score part {j} wrote no latest.part-{j}-of-{PARTS}")
        if os.path.exists(os.path.join(many, "recommend", "latest")):
            failures.append("a score part moved the unsharded 'latest' pointer")
        run([f"{ROOT}/tools/cluster/recommend-merge.sh", str(SHARDS), catalog, interactions, many, str(PARTS)], env=env)

        for stage, files in (("extract", ["features.npy", "ids.txt", "items_without_features.txt", "photo_features.npy",
                                          "photos.csv"]),
                             ("reduce", ["reduced.npy", "ids.txt"])):
            for f in files:
                a = open(os.path.join(latest(one, stage), f), "rb").read()
                b = open(os.path.join(latest(many, stage), f), "rb").read()
                if a != b:
                    failures.append(f"{stage}/{f} differs between the unsharded run and the merged shards")
        # Every recommend output (lists, scores, scoring lists for explain); an unsharded recommend in
        # the same workdir finds the merged artifact up to date (same key).
        rec_one, rec_many = latest(one, "recommend"), latest(many, "recommend")
        p = run([visrec, "recommend", "--workdir", many, "--interactions", interactions, "--catalog", catalog])
        if "up to date" not in p.stderr or latest(many, "recommend") != rec_many:
            failures.append("an unsharded recommend after the merge was not up to date: the keys differ")
        outputs = sorted(f for f in os.listdir(rec_one) if f != "manifest.json")
        if sorted(f for f in os.listdir(rec_many) if f != "manifest.json") != outputs or "recommendations.csv" not in outputs:
            failures.append(f"the merged recommend artifact holds other files than the unsharded one: {os.listdir(rec_many)}")
        for f in outputs:
            if open(os.path.join(rec_one, f), "rb").read() != open(os.path.join(rec_many, f), "rb").read():
                failures.append(f"recommend/{f} differs between the unsharded run and the merged recommend shards and parts")

        # A second merge is up to date; a merge asking for a shard that never ran names it.
        p = run([visrec, "extract", "--workdir", many, "--merge-shards", str(SHARDS)])
        if "up to date" not in p.stderr:
            failures.append("a repeated merge was not up to date")
        p = run([visrec, "extract", "--workdir", many, "--merge-shards", str(SHARDS + 1)], check=False)
        if p.returncode != 4 or f"latest.shard-i-of-{SHARDS + 1} for i = 0, 1, 2, 3" not in p.stderr:
            failures.append(f"merge of missing shards: exit {p.returncode}, {p.stderr[-300:]}")
        p = run([visrec, "preprocess", "--catalog", catalog, "--workdir", many, "--shard", "3/3"], check=False)
        if p.returncode != 2 or "--shard" not in p.stderr:
            failures.append(f"--shard 3/3 was not a usage error: exit {p.returncode}")

        # What the recommend merge refuses: a shard made with other flags (named, with the fix), a
        # shard that never ran, and approximate visual search in shards.
        rec = [visrec, "recommend", "--workdir", many, "--interactions", interactions, "--catalog", catalog, "-q"]
        p = run([visrec, "recommend", "--workdir", many, "--interactions", interactions, "--catalog", catalog,
                 "--merge-shards", str(SHARDS)])
        if "up to date" not in p.stderr:
            failures.append("a repeated recommend merge was not up to date")
        run(rec + ["--shard", f"1/{SHARDS}", "--neighbors", "7"])
        p = run(rec + ["--merge-shards", str(SHARDS), "--neighbors", "7"], check=False)
        if p.returncode != 4 or f"shard 0/{SHARDS}: made with other inputs or list flags: neighbors 100 (merge: 7)" \
                not in p.stderr or f"shard 1/{SHARDS}" in p.stderr:
            failures.append(f"a merge over shards made with other flags: exit {p.returncode}, {p.stderr[-300:]}")
        p = run(rec + ["--merge-shards", str(SHARDS + 1), "--force"], check=False)
        if p.returncode != 4 or f"latest.shard-i-of-{SHARDS + 1} for i = 0, 1, 2, 3" not in p.stderr:
            failures.append(f"recommend merge of missing shards: exit {p.returncode}, {p.stderr[-300:]}")
        p = run(rec + ["--merge-shards", str(SHARDS), "--merge-parts", str(PARTS + 1), "--k", "3"], check=False)
        if p.returncode != 4 or f"{PARTS + 1} of {PARTS + 1} user parts are missing" not in p.stderr:
            failures.append(f"recommend merge of missing user parts: exit {p.returncode}, {p.stderr[-300:]}")
        for bad in (["--shard", "0/3", "--visual-index", "hnsw"], ["--shard", "0/3", "--merge-shards", "3"],
                    ["--merge-shards", "0"], ["--shard", ""], ["--score-part", "0/2", "--shard", "0/3"],
                    ["--score-part", "2/2"], ["--score-part", ""], ["--merge-parts", "0"],
                    ["--score-part", "0/2", "--merge-parts", "2"]):
            p = run(rec + bad, check=False)
            if p.returncode != 2:
                failures.append(f"recommend {' '.join(bad)}: exit {p.returncode}, expected a usage error (2)")
        if latest(many, "recommend") != rec_many:
            failures.append("a refused merge moved recommend/latest")

    # The cluster files: every script parses, every script they name exists.
    for f in glob.glob(f"{ROOT}/tools/cluster/*.sh") + glob.glob(f"{ROOT}/tools/cluster/*.sbatch"):
        if subprocess.run(["bash", "-n", f]).returncode != 0:
            failures.append(f"{f} does not parse (bash -n)")
    for f in glob.glob(f"{ROOT}/tools/cluster/*"):
        text = open(f).read()
        for step in (text.split("for step in ", 1)[1].split(";")[0].split() if "for step in " in text else []):
            if not os.path.exists(f"{ROOT}/tools/cluster/k8s-{step}.yaml"):
                failures.append(f"{os.path.basename(f)} applies k8s-{step}.yaml, which tools/cluster does not have")
        for word in text.replace('"', " ").replace(",", " ").replace("[", " ").replace("]", " ").split():
            if "/tools/cluster/" in word and "$" not in word and not os.path.exists(f"{ROOT}/tools/cluster/" + word.split("/tools/cluster/")[1]):
                failures.append(f"{os.path.basename(f)} names {word}, which tools/cluster does not have")

    for f in failures:
        print("FAIL", f)
    print(f"sharding: {SHARDS} concurrent shards of sizes {sizes}, merged; {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
