#!/usr/bin/env bash
# Step 4 of the nightly DAG: gather the N recommend shards' lists, blend, score every user and write
# the recommend artifact an unsharded run writes (it becomes WORKDIR/recommend/latest).
# Usage: recommend-merge.sh N CATALOG INTERACTIONS WORKDIR   (VISREC, VISREC_RECOMMEND_ARGS as in recommend-worker.sh)
set -euo pipefail
n=$1 catalog=$2 interactions=$3 workdir=$4
visrec=${VISREC:-visrec}
# shellcheck disable=SC2086
"$visrec" recommend --workdir "$workdir" --interactions "$interactions" --catalog "$catalog" --merge-shards "$n" \
  ${VISREC_RECOMMEND_ARGS:-}
