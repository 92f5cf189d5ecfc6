#!/usr/bin/env bash
# Step 1 of the nightly DAG (docs/operations.md, "Sharding"): one shard of a sharded `preprocess` +
# `extract`, for cluster engines that start N copies of a job and give each an index (see
# shard-index.sh). Every shard writes into the same WORKDIR on shared storage; each keeps its own
# pointer (WORKDIR/<stage>/latest.shard-i-of-N), so shards never step on each other.
# When all N have finished, run merge.sh.
# Usage: shard-worker.sh N CATALOG WORKDIR
# Options: VISREC (binary, default `visrec`), VISREC_PREPROCESS_ARGS, VISREC_EXTRACT_ARGS (extra flags).
set -euo pipefail
n=$1 catalog=$2 workdir=$3
. "$(dirname "$0")/shard-index.sh"
visrec=${VISREC:-visrec}
# shellcheck disable=SC2086  # the extra flags are meant to be split into words
"$visrec" preprocess --catalog "$catalog" --workdir "$workdir" --shard "$shard_index/$n" ${VISREC_PREPROCESS_ARGS:-}
# shellcheck disable=SC2086
"$visrec" extract --workdir "$workdir" --shard "$shard_index/$n" ${VISREC_EXTRACT_ARGS:-}
