#!/usr/bin/env bash
# README command 2: install what is missing, build, run the test suite (ctest), which includes the
# regression gate of the sample catalog against data/baseline/sample-report.json, the bad-input
# corpus and real photos (opencv-doc).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh --test
bash tools/build.sh
cd build
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)"
