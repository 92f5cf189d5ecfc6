#!/usr/bin/env bash
# The test suite (visrec_tests: util, artifact, stages without LibTorch internals, pipeline) built with
# AddressSanitizer + UndefinedBehaviorSanitizer (-DVISREC_SANITIZE=ON) into build-asan/.
# LibTorch's own allocations are not leak-checked (detect_leaks=0); UBSan findings are fatal.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVISREC_SANITIZE=ON >/dev/null
ninja -C build-asan -j"$(nproc 2>/dev/null || echo 2)" visrec_tests
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ./build-asan/tests/visrec_tests --gtest_brief=1
