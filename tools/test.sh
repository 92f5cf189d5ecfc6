#!/usr/bin/env bash
# README command 2: install what is missing, build, run the test suite (ctest), which includes the
# regression gate of the sample catalog against data/baseline/sample-report.json, the bad-input
# corpus and real photos (opencv-doc).
# --quick: only the tests labelled unit (core and pure functions, well under a minute), for the
# edit-compile-test loop; CI and the README run everything.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  *) echo "test.sh: unknown option '$1' (--quick runs the unit tests only)" >&2; exit 2 ;;
esac
bash tools/install-deps.sh --test
bash tools/build.sh
cd build
if [ "$quick" = 1 ]; then  # the tests labelled unit (ctest -L unit), in one process
  exec tests/visrec_tests --gtest_filter="$(cat tests/unit-filter.txt)" --gtest_brief=1
fi
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)"
