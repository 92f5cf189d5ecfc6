#!/usr/bin/env bash
# After all N shards: merge their features, then the rest of the pipeline on one machine.
# Usage: merge.sh N CATALOG INTERACTIONS WORKDIR   (VISREC, VISREC_REDUCE_ARGS, VISREC_RECOMMEND_ARGS as in shard-worker.sh)
set -euo pipefail
n=$1 catalog=$2 interactions=$3 workdir=$4
visrec=${VISREC:-visrec}
"$visrec" extract --workdir "$workdir" --merge-shards "$n"
# shellcheck disable=SC2086
"$visrec" reduce --workdir "$workdir" ${VISREC_REDUCE_ARGS:-}
# shellcheck disable=SC2086
"$visrec" recommend --workdir "$workdir" --interactions "$interactions" --catalog "$catalog" ${VISREC_RECOMMEND_ARGS:-}
