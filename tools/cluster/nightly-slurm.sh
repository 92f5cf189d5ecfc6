#!/usr/bin/env bash
# The whole nightly DAG on Slurm, each step submitted to start when the one before succeeded (afterok):
#   1 slurm-shards.sbatch (array 0-2)            preprocess + extract, a third of the items each
#   2 slurm-merge.sbatch                         extract --merge-shards, reduce
#   3 slurm-recommend-shards.sbatch (array 0-2)  recommend --shard: neighbour lists of a third of the items each
#   4 slurm-score-parts.sbatch (array 0-2)       recommend --score-part: a third of the users each
#   5 slurm-recommend-merge.sbatch               recommend --merge-shards --merge-parts: gather, write
# Usage: nightly-slurm.sh   (prints the five job ids; a failed step cancels the ones after it)
set -euo pipefail
here=$(dirname "$0")
submit() {  # prints the job id (--parsable gives "id;cluster" on multi-cluster set-ups)
  local id
  id=$(sbatch --parsable "$@")
  echo "${id%%;*}"
}
j1=$(submit "$here/slurm-shards.sbatch")
j2=$(submit --kill-on-invalid-dep=yes --dependency="afterok:$j1" "$here/slurm-merge.sbatch")
j3=$(submit --kill-on-invalid-dep=yes --dependency="afterok:$j2" "$here/slurm-recommend-shards.sbatch")
j4=$(submit --kill-on-invalid-dep=yes --dependency="afterok:$j3" "$here/slurm-score-parts.sbatch")
j5=$(submit --kill-on-invalid-dep=yes --dependency="afterok:$j4" "$here/slurm-recommend-merge.sbatch")
echo "visrec nightly: jobs $j1 -> $j2 -> $j3 -> $j4 -> $j5"
