#!/usr/bin/env bash
# The last step of the nightly DAG: gather the N recommend shards' lists, blend, and write the
# recommend artifact an unsharded run writes (it becomes WORKDIR/recommend/latest); the DAG's last
# step. Without M it scores every user itself; with M it gathers the M user parts of
# score-worker.sh (step 4) instead.
# Usage: recommend-merge.sh N CATALOG INTERACTIONS WORKDIR [M]   (VISREC, VISREC_RECOMMEND_ARGS as in recommend-worker.sh)
set -euo pipefail
n=$1 catalog=$2 interactions=$3 workdir=$4 m=${5:-}
visrec=${VISREC:-visrec}
# shellcheck disable=SC2086
"$visrec" recommend --workdir "$workdir" --interactions "$interactions" --catalog "$catalog" --merge-shards "$n" \
  ${m:+--merge-parts "$m"} ${VISREC_RECOMMEND_ARGS:-}
