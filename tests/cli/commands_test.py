#!/usr/bin/env python3
"""The command table: both binaries list their commands, share their common commands' flags and
defaults, refuse usage errors alike (exit 2), and `visrec split` is `evaluate --split`.

  commands_test.py VISREC VISREC_GPU
"""
import os
import subprocess
import sys
import tempfile

VISREC_COMMANDS = ["sample", "preprocess", "extract", "finetune", "reduce", "recommend", "split", "evaluate", "run",
                   "query", "explain", "report", "inspect", "compare", "verify", "weights", "version"]
GPU_COMMANDS = ["extract", "finetune", "verify", "version"]


def run(*args, cwd=None):
    p = subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def subcommands(help_text):
    lines = help_text.splitlines()
    start = lines.index("Subcommands:") + 1
    return [l.split()[0] for l in lines[start:] if l.strip()]


def options_part(help_text):
    """The help from "Options:" on: the same for both binaries when flags and defaults are."""
    return help_text[help_text.index("Options:"):]


def main(argv):
    visrec, gpu = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    rc, out, _ = run(visrec, "--help")
    expect(rc == 0 and subcommands(out) == VISREC_COMMANDS, "visrec --help lists %s" % subcommands(out))
    rc, out, _ = run(gpu, "--help")
    expect(rc == 0 and subcommands(out) == GPU_COMMANDS, "visrec-gpu --help lists %s" % subcommands(out))
    for command in GPU_COMMANDS[:3]:
        _, a, _ = run(visrec, command, "--help")
        _, b, _ = run(gpu, command, "--help")
        expect(options_part(a) == options_part(b), "`%s --help` differs between the binaries" % command)

    with tempfile.TemporaryDirectory(prefix="visrec-cli.") as tmp:
        config = os.path.join(tmp, "bad.toml")
        with open(config, "w") as f:
            f.write("[extract]\nbatch-sise = 4\n")
        for binary in (visrec, gpu):
            name = os.path.basename(binary)
            for args, what in [(["extract", "--shard", ""], "an empty --shard"),
                               (["extract", "--shard", "0/2", "--merge-shards", "2"], "--shard with --merge-shards"),
                               (["extract", "--batch-size", "5000"], "a batch size out of range"),
                               (["finetune", "--lr", "nan"], "a NaN learning rate"),
                               (["finetune"], "finetune without --label-column"),
                               (["extract", "--device", "tpu"], "an unknown device"),
                               (["extract", "--precision", "fp64"], "an unknown precision"),
                               (["extract", "--cpu-kernels", "fast"], "unknown CPU kernels"),
                               (["finetune", "--label-column", "c", "--device", "gpu"], "finetune on an unknown device"),
                               (["finetune", "--label-column", "c", "--precision", "FP32"], "a precision in capitals"),
                               (["--config", config, "extract"], "a misspelt config key")]:
                rc, _, err = run(binary, *args, "-w", os.path.join(tmp, "none"))
                expect(rc == 2, "%s %s: exit %d, expected 2 for %s (%s)" % (name, " ".join(args), rc, what, err.strip()[-200:]))
        rc, _, err = run(gpu, "--config", config, "extract")
        expect("batch-size" in err, "visrec-gpu names the nearest config key: " + err.strip()[-200:])

        # `split` and `evaluate --split` make the same artifact (the second call is a no-op).
        interactions = os.path.join(tmp, "interactions.csv")
        rows = ["user_id,item_id,timestamp"]
        for u in range(12):
            for i in range(1 + u % 4):
                rows.append("u%d,i%d,%d" % (u, (u + i) % 9, 1700000000 + 100 * u + i))
        with open(interactions, "w") as f:
            f.write("\n".join(rows) + "\n")
        work = os.path.join(tmp, "work")
        rc1, split_out, err1 = run(visrec, "split", "--interactions", interactions, "-w", work, "-q")
        rc2, eval_out, err2 = run(visrec, "evaluate", "--split", "leave-last-out", "--interactions", interactions,
                                  "-w", work, "-q")
        expect(rc1 == 0 and rc2 == 0 and split_out == eval_out and split_out.count("\n") == 2,
               "split and evaluate --split: %d %r / %d %r (%s %s)" % (rc1, split_out, rc2, eval_out, err1, err2))
        if rc1 == 0:
            train, test = split_out.split()
            with open(test) as f:
                held = f.read().splitlines()[1:]
            users_with_two = sum(1 for u in range(12) if 1 + u % 4 >= 2)
            expect(len(held) == users_with_two, "leave-last-out held out %d rows, expected %d" % (len(held), users_with_two))
        rc, random_out, _ = run(visrec, "split", "--method", "random", "--test-fraction", "0.3", "--interactions",
                                interactions, "-w", work, "-q")
        expect(rc == 0 and random_out != split_out, "split --method random made its own artifact")
        # The split's messages name --split (run's and evaluate's flag); `visrec split` takes it too.
        rc, alias_out, _ = run(visrec, "split", "--split", "random", "--test-fraction", "0.3", "--interactions",
                               interactions, "-w", work, "-q")
        expect(rc == 0 and alias_out == random_out, "split --split random is split --method random")
        # Each command has its own options: a [run] section does not set `split`'s, a [split] one does
        # (before the command table, one command's section leaked into every other command).
        sections = os.path.join(tmp, "sections.toml")
        with open(sections, "w") as f:
            f.write('[run]\nworkdir = "%s"\n[split]\nworkdir = "%s"\n' % (os.path.join(tmp, "run-work"),
                                                                        os.path.join(tmp, "split-work")))
        rc, _, err = run(visrec, "--config", sections, "split", "--interactions", interactions, "-q", cwd=tmp)
        expect(rc == 0 and os.path.isdir(os.path.join(tmp, "split-work", "split"))
               and not os.path.exists(os.path.join(tmp, "run-work")) and not os.path.exists(os.path.join(tmp, "visrec-work")),
               "a [split] section sets split's workdir and a [run] one does not (%d %s)" % (rc, err.strip()[-200:]))
        for args, code, what in [(["split", "-w", work], 2, "split without --interactions"),
                                 (["explain", "--user", "", "--item", "i0", "-w", work], 2, "explain with an empty --user"),
                                 (["split", "--method", "bogus", "--interactions", interactions, "-w", work], 2,
                                  "an unknown split method"),
                                 (["reduce", "--method", "svd", "-w", work], 2, "an unknown PCA method"),
                                 (["recommend", "--blend", "1", "-w", work], 2, "a blend mode given as a number"),
                                 (["recommend", "--blend", "AUTO", "-w", work], 2, "a blend mode in capitals"),
                                 (["query", "--device", "tpu", "--item", "i0", "-w", work], 2,
                                  "an unknown query device"),
                                 (["explain", "--user", "u0", "--item", "i0", "-w", work], 4,
                                  "explain without a recommend artifact")]:
            rc, _, err = run(visrec, *args)
            expect(rc == code, "%s: exit %d, expected %d for %s (%s)" % (" ".join(args), rc, code, what, err.strip()[-200:]))

    for f in failures:
        print("FAIL:", f)
    print("commands_test: %d problem(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
