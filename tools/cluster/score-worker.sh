#!/usr/bin/env bash
# Step 4 of the nightly DAG (optional): one user part of the scoring, after the N recommend shards.
# The part gathers the shards' lists, blends them and scores its share of the users (users in id
# order, part j of M holds users [j*U/M, (j+1)*U/M)), writing WORKDIR/recommend/latest.part-j-of-M.
# When all M have finished, run recommend-merge.sh with the same N, the same M and the same flags.
# Usage: score-worker.sh N M CATALOG INTERACTIONS WORKDIR
# Options: VISREC, VISREC_RECOMMEND_ARGS (every flag the same as the merge's: the merge checks the
# parts' key and names the flags that differ).
set -euo pipefail
n=$1 m=$2 catalog=$3 interactions=$4 workdir=$5
. "$(dirname "$0")/shard-index.sh"
visrec=${VISREC:-visrec}
# shellcheck disable=SC2086
"$visrec" recommend --workdir "$workdir" --interactions "$interactions" --catalog "$catalog" --merge-shards "$n" \
  --score-part "$shard_index/$m" ${VISREC_RECOMMEND_ARGS:-}
