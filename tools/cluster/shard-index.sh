# Sourced by the worker scripts: the shard index the cluster engine gave this copy of the job.
# Kubernetes Indexed Jobs set JOB_COMPLETION_INDEX (0..N-1), Slurm job arrays SLURM_ARRAY_TASK_ID.
shard_index=${JOB_COMPLETION_INDEX:-${SLURM_ARRAY_TASK_ID:-}}
if [ -z "$shard_index" ]; then
  echo "$(basename "$0"): no shard index: set JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)" >&2
  exit 2
fi
