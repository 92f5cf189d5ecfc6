#!/usr/bin/env bash
# Step 2 of the nightly DAG: after all N shard-worker.sh copies, merge their features and fit the
# reduction on one machine. Then recommend, either here (unsharded) or as steps 3 to 5
# (recommend-worker.sh, score-worker.sh, recommend-merge.sh) when VISREC_RECOMMEND_SHARDED=1.
# Usage: merge.sh N CATALOG INTERACTIONS WORKDIR
# Options: VISREC (as in shard-worker.sh), VISREC_REDUCE_ARGS, VISREC_RECOMMEND_ARGS (as in recommend-worker.sh),
# VISREC_RECOMMEND_SHARDED (default 0; k8s-merge.yaml and slurm-merge.sbatch set 1).
set -euo pipefail
n=$1 catalog=$2 interactions=$3 workdir=$4
visrec=${VISREC:-visrec}
"$visrec" extract --workdir "$workdir" --merge-shards "$n"
# shellcheck disable=SC2086
"$visrec" reduce --workdir "$workdir" ${VISREC_REDUCE_ARGS:-}
if [ "${VISREC_RECOMMEND_SHARDED:-0}" != 1 ]; then
  # shellcheck disable=SC2086
  "$visrec" recommend --workdir "$workdir" --interactions "$interactions" --catalog "$catalog" ${VISREC_RECOMMEND_ARGS:-}
fi
