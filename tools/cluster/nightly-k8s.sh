#!/usr/bin/env bash
# The whole nightly DAG on Kubernetes, each step a Job that starts when the one before completed:
#   1 visrec-shards (Indexed, 3)            preprocess + extract, a third of the items each
#   2 visrec-merge                          extract --merge-shards, reduce
#   3 visrec-recommend-shards (Indexed, 3)  recommend --shard: neighbour lists of a third of the items each
#   4 visrec-score-parts (Indexed, 3)       recommend --score-part: a third of the users each
#   5 visrec-recommend-merge                recommend --merge-shards --merge-parts: gather, write
# Usage: nightly-k8s.sh [TIMEOUT_SECONDS]   (kubectl configured for the namespace; per step, default 86400)
# Jobs of a previous night are deleted first (a Job's spec cannot be re-applied); steps whose inputs
# did not change are up to date and cheap. A step whose Job fails (its backoffLimit used up) stops
# the night at once with exit 1.
set -euo pipefail
here=$(dirname "$0")
timeout=${1:-86400}
for step in shards merge recommend-shards score-parts recommend-merge; do
  kubectl delete job "visrec-$step" --ignore-not-found
  kubectl apply -f "$here/k8s-$step.yaml"
  start=$SECONDS
  while :; do
    conditions=$(kubectl get job "visrec-$step" -o jsonpath='{.status.conditions[?(@.status=="True")].type}')
    case " $conditions " in
      *" Complete "*) break ;;
      *" Failed "*) echo "nightly-k8s: job visrec-$step failed; see kubectl logs job/visrec-$step" >&2; exit 1 ;;
    esac
    if (( SECONDS - start > timeout )); then
      echo "nightly-k8s: job visrec-$step did not finish in $timeout s" >&2
      exit 1
    fi
    sleep 20
  done
done
