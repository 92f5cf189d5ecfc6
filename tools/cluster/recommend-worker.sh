#!/usr/bin/env bash
# Step 3 of the nightly DAG: one shard of a sharded `recommend`, after merge.sh (features merged,
# reduction fitted). The shard computes the collaborative, visual (exact) and text neighbour lists
# of its own items against all items and writes them under WORKDIR/recommend/latest.shard-i-of-N.
# When all N have finished, run score-worker.sh (step 4, optional), then recommend-merge.sh, with
# the same N and flags.
# Usage: recommend-worker.sh N CATALOG INTERACTIONS WORKDIR
# Options: VISREC, VISREC_RECOMMEND_ARGS (extra flags; the merge must get the same list flags).
set -euo pipefail
n=$1 catalog=$2 interactions=$3 workdir=$4
. "$(dirname "$0")/shard-index.sh"
visrec=${VISREC:-visrec}
# shellcheck disable=SC2086
"$visrec" recommend --workdir "$workdir" --interactions "$interactions" --catalog "$catalog" --shard "$shard_index/$n" \
  ${VISREC_RECOMMEND_ARGS:-}
