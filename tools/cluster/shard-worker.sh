#!/usr/bin/env bash
# One shard of a sharded `preprocess` + `extract`, for cluster engines that start N copies of a job
# and give each an index: Kubernetes Indexed Jobs set JOB_COMPLETION_INDEX (0..N-1), Slurm job
# arrays set SLURM_ARRAY_TASK_ID. Every shard writes into the same WORKDIR on shared storage; each
# keeps its own pointer (WORKDIR/<stage>/latest.shard-i-of-N), so shards never step on each other.
# When all N have finished, run merge.sh (or `visrec extract --merge-shards N`).
# Usage: shard-worker.sh N CATALOG WORKDIR
# Options: VISREC (binary, default `visrec`), VISREC_PREPROCESS_ARGS, VISREC_EXTRACT_ARGS (extra flags).
set -euo pipefail
n=$1 catalog=$2 workdir=$3
i=${JOB_COMPLETION_INDEX:-${SLURM_ARRAY_TASK_ID:-}}
if [ -z "$i" ]; then
  echo "shard-worker: no shard index: set JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)" >&2
  exit 2
fi
visrec=${VISREC:-visrec}
# shellcheck disable=SC2086  # the extra flags are meant to be split into words
"$visrec" preprocess --catalog "$catalog" --workdir "$workdir" --shard "$i/$n" ${VISREC_PREPROCESS_ARGS:-}
# shellcheck disable=SC2086
"$visrec" extract --workdir "$workdir" --shard "$i/$n" ${VISREC_EXTRACT_ARGS:-}
