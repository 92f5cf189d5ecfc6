#!/usr/bin/env bash
# The extract stage on a CUDA GPU: builds visrec's GPU-node mode against the CUDA LibTorch inside a
# PyTorch install, checks CUDA features against CPU fp32 features of the same preprocessed photos,
# and measures CUDA throughput (forward-only at large batches, and the whole stage with pinned host
# memory and non-blocking copies) in fp32, bf16 and fp16. Two steps:
#
#   bash tools/gpu-check.sh pack [DIR]   here (Debian 12 with visrec built): DIR (default gpu-pack/)
#                                        gets the header-only deps (spdlog, fmt, nlohmann-json, CLI11
#                                        fetched with apt-get download, unpacked with dpkg -x), a small
#                                        preprocessed sample catalog and the CPU fp32 reference features.
#   bash tools/gpu-check.sh run [DIR]    on the GPU node (no package registry; PyTorch, CMake, ninja and
#                                        a compiler present), with DIR carried over. Prints a table; the
#                                        full log goes to $OUT (or DIR) as gpu-check.log.
#
# DEVICE=cpu bash tools/gpu-check.sh run  runs the same steps on the CPU (a dry run of the script;
# its figures say nothing about GPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:-}
dir=$(realpath -m "${2:-gpu-pack}")
model=${MODEL:-resnet50}
py=${PYTHON:-python3}  # the python3 that holds PyTorch (and numpy)

pack() {
  [ -x build/visrec ] || { echo "gpu-check pack: build visrec first (bash tools/build.sh)" >&2; exit 2; }
  rm -rf "$dir" && mkdir -p "$dir/debs" "$dir/prefix"
  (cd "$dir/debs" && apt-get download libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev)
  for d in "$dir"/debs/*.deb; do dpkg -x "$d" "$dir/prefix"; done
  rm -rf "$dir/debs" "$dir/prefix/usr/share" "$dir/prefix/usr/lib"
  # ~60 items, ~150 photos at 224 px: a preprocess artifact well under the 64 MiB a device call carries.
  build/visrec sample --out "$dir/sample" --items 60 --users 20 --min-side 300 --max-side 500 -q > /dev/null
  build/visrec preprocess --catalog "$dir/sample/catalog.csv" --workdir "$dir/work" -q > /dev/null
  rm -rf "$dir/sample/images"  # the GPU node needs only the preprocessed pixels
  mkdir -p "$dir/ref"
  ex=$(build/visrec extract --workdir "$dir/cpu-work" --preprocess "$dir/work/preprocess/$(cat "$dir/work/preprocess/latest")" \
         --model "$model" --device cpu --precision fp32 --batch-size 8 -q)
  cp "$ex/photo_features.npy" "$dir/ref/$model-cpu-fp32-photos.npy"
  cp "$ex/features.npy" "$dir/ref/$model-cpu-fp32-items.npy"
  rm -rf "$dir/cpu-work"
  du -sh "$dir"
  echo "gpu-check pack: $dir is ready; carry it to the GPU node and run: bash tools/gpu-check.sh run $(basename "$dir")"
}

run() {
  [ -d "$dir/prefix/usr/include/spdlog" ] || { echo "gpu-check run: $dir lacks the packed deps; run 'gpu-check.sh pack' first" >&2; exit 2; }
  local device=${DEVICE:-cuda}
  local out=${OUT:-$dir}
  mkdir -p "$out"
  local log="$out/gpu-check.log"
  : > "$log"
  say() { echo "$*" | tee -a "$log"; }
  local torch_prefix
  torch_prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  say "torch $("$py" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())')"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$log" || true
  # Build: C++17 first, C++20 when the LibTorch headers insist on it.
  local built=""
  for std in 17 20; do
    rm -rf build-gpu
    if cmake -S . -B build-gpu -G Ninja -DVISREC_GPU_NODE=ON -DVISREC_DEPS_PREFIX="$dir/prefix" \
         -DCMAKE_PREFIX_PATH="$torch_prefix" -DCMAKE_CXX_STANDARD=$std -DVISREC_BUILD_TESTS=OFF >> "$log" 2>&1 &&
       cmake --build build-gpu -j "$(nproc)" >> "$log" 2>&1; then
      built=$std; break
    fi
    say "build with C++$std failed (tail of the log):"; tail -n 15 "$log"
  done
  [ -n "$built" ] || { say "gpu-check: the GPU-node build failed; see $log"; exit 1; }
  say "built visrec-gpu (C++$built)"
  build-gpu/visrec-gpu version | tee -a "$log"
  local pre="$dir/work/preprocess/$(cat "$dir/work/preprocess/latest")"
  local work="$out/gpu-work"
  rm -rf "$work"
  # Whole stage per precision: features vs CPU fp32, images/s from the manifest.
  local results=()
  for prec in fp32 bf16 fp16; do
    [ "$device" = cpu ] && [ "$prec" = fp16 ] && continue
    if ex=$(build-gpu/visrec-gpu extract --workdir "$work/$prec" --preprocess "$pre" --model "$model" --device "$device" \
              --precision "$prec" --batch-size 256 --threads 0 -q 2>> "$log"); then
      results+=("$prec:$ex")
    else
      say "extract --precision $prec on $device failed (exit $?); see $log"
    fi
  done
  "$py" tools/bench/gpu_check_features.py "$dir/ref" "$model" "$device" "${results[@]}" | tee -a "$log"
  # Forward-only throughput on random tensors at large batches (the ceiling for the stage).
  say "forward-only $model, images/s on $device (random inputs, channels-last, 5 s each):"
  for prec in fp32 bf16 fp16; do
    [ "$device" = cpu ] && [ "$prec" = fp16 ] && continue
    line="  $prec:"
    for batch in 64 256; do
      [ "$device" = cpu ] && [ "$batch" = 256 ] && continue
      r=$(build-gpu/extract_forward "$model" "$batch" "$prec" "$(nproc)" 5 cl "$device" 2>> "$log" || echo "failed")
      line="$line  batch $batch $r"
    done
    say "$line"
  done
  # Fine-tuning on the device (last block + head, 2 epochs), to see it run and how fast.
  if ft=$(build-gpu/visrec-gpu finetune --workdir "$work/finetune" --preprocess "$pre" --label-column category \
            --catalog "$dir/sample/catalog.csv" \
            --model "$model" --device "$device" --epochs 2 --batch-size 64 --precision bf16 -q 2>> "$log"); then
    "$py" tools/bench/gpu_check_finetune.py "$(dirname "$ft")" | tee -a "$log"
  else
    say "finetune on $device failed; see $log"
  fi
  say "gpu-check: done; full log in $log"
}

case "$step" in
  pack) pack ;;
  run) run ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
