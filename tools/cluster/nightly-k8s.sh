#!/usr/bin/env bash
# The whole nightly DAG on Kubernetes, each step a Job that starts when the one before completed:
#   1 visrec-shards (Indexed, 3)            preprocess + extract, a third of the items each
#   2 visrec-merge                          extract --merge-shards, reduce
#   3 visrec-recommend-shards (Indexed, 3)  recommend --shard: neighbour lists of a third of the items each
#   4 visrec-recommend-merge                recommend --merge-shards: blend, score users, write
# Usage: nightly-k8s.sh [TIMEOUT]   (kubectl configured for the namespace; TIMEOUT per step, default 24h)
# Jobs of a previous night are deleted first (a Job's spec cannot be re-applied).
set -euo pipefail
here=$(dirname "$0")
timeout=${1:-24h}
for step in shards merge recommend-shards recommend-merge; do
  kubectl delete job "visrec-$step" --ignore-not-found
  kubectl apply -f "$here/k8s-$step.yaml"
  if ! kubectl wait --for=condition=complete --timeout="$timeout" "job/visrec-$step"; then
    echo "nightly-k8s: job visrec-$step did not complete; see kubectl logs job/visrec-$step" >&2
    exit 1
  fi
done
