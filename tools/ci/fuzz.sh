#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) and runs each for
# SECONDS (default 30). Needs clang (Debian: clang, libclang-rt-14-dev). Findings are written to
# build-fuzz/<target>/crash-*; the run exits non-zero on the first one.
# Usage: tools/ci/fuzz.sh [SECONDS=30]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
out="$root/build-fuzz"
mkdir -p "$out"
# Every source of the two bottom libraries (util, artifact): the fuzzed readers live there, and a
# list kept by hand here went stale whenever a file was added.
lib_sources=("$root"/src/util/*.cc "$root"/src/artifact/*.cc)
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -DVISREC_VERSION='"fuzz"' -DSPDLOG_FMT_EXTERNAL -I"$root/include")
# They are compiled once (two at a time), then linked into each target.
mkdir -p "$out/obj"
printf '%s\n' "${lib_sources[@]}" | xargs -P 2 -I{} sh -c 'clang++ "$@" -c "$0" -o "'"$out"'/obj/$(basename "$0" .cc).o"' {} "${flags[@]}"
# version.cc's git sha comes from a file CMake generates at build time; here a fixed one.
printf 'namespace visrec::detail {\nconst char* BuildGitSha() { return "fuzz"; }\n}\n' > "$out/obj/git_sha.cc"
clang++ "${flags[@]}" -c "$out/obj/git_sha.cc" -o "$out/obj/git_sha.o"
objs=("$out/obj/git_sha.o"); for c in "${lib_sources[@]}"; do objs+=("$out/obj/$(basename "$c" .cc).o"); done
for target in csv npy manifest config batch checkpoint; do
  upper=$(echo "$target" | tr a-z A-Z)
  clang++ "${flags[@]}" -fsanitize=fuzzer -DVISREC_FUZZ_"$upper" "$root/tests/fuzz/fuzz_targets.cc" "${objs[@]}" \
    -lspdlog -lfmt -ldl -lpthread -o "$out/fuzz_$target"
  mkdir -p "$out/$target/corpus"
  case $target in
    csv) printf 'item_id,image,title\nA,a.jpg,"x, ""y"""\r\n' > "$out/$target/corpus/seed1"
         printf 'user_id,item_id,weight,timestamp\nu,A,2,2024-01-01T00:00:00+02:00\n' > "$out/$target/corpus/seed2" ;;
    npy) /usr/bin/python3 -c "import numpy as np; np.save('$out/$target/corpus/seed.npy', np.ones((2,3), np.float32))" 2>/dev/null ||
         printf '\x93NUMPY\x01\x00\x76\x00{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (1,), }' > "$out/$target/corpus/seed" ;;
    config) printf '# c\n[run]\ncatalog = "a.csv"\nk = 10\nmean = [0.5, 0.5, 0.5] # x\nforce = true\n' > "$out/$target/corpus/seed" ;;
    checkpoint) cp "$root"/tests/fixtures/checkpoint/{resnet18-tv.pth,resnet18-tv-legacy.pth,foreign-global.pth} "$out/$target/corpus/" ;;
    batch) printf 'item P0001  \r\n' > "$out/$target/corpus/seed1"; printf '  image a b.jpg\t\n' > "$out/$target/corpus/seed2" ;;
    manifest) printf '{"schema_version":1,"stage":"s","stage_version":1,"key":"k","params":{},"inputs":[],"outputs":[{"file":"a.npy","bytes":3,"sha256":"x","dtype":"float32","shape":[1]}]}' > "$out/$target/corpus/seed" ;;
  esac
  echo "== fuzz_$target for ${secs}s"
  (cd "$out/$target" && "$out/fuzz_$target" -max_total_time="$secs" -max_len="$([ "$target" = checkpoint ] && echo 65536 || echo 4096)" -print_final_stats=1 corpus 2>&1 |
     grep -aE "^stat::number_of_executed_units|^stat::peak_rss|ERROR|SUMMARY|crash-" || true)
  if ls "$out/$target"/crash-* >/dev/null 2>&1; then echo "finding in $out/$target"; exit 1; fi
done
