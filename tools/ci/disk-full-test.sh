#!/usr/bin/env bash
# Disk full: a 3 MB tmpfs workdir holds one small preprocess artifact; a larger second version must
# fail with exit code 9 and a clear message, leaving the first artifact intact and verifiable.
# Needs root (mount -t tmpfs). Usage: tools/ci/disk-full-test.sh [VISREC=build/visrec]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
visrec=$(realpath "${1:-$root/build/visrec}")
work=$(mktemp -d /tmp/visrec-full.XXXXXX)
mkdir -p "$work/small"
mount -t tmpfs -o size=3m tmpfs "$work/small"
trap 'umount "$work/small"; rm -rf "$work"' EXIT
"$visrec" sample --out "$work/cat" --items 12 --users 10 --min-side 300 --max-side 400 -q >/dev/null
"$visrec" preprocess --catalog "$work/cat/catalog.csv" --workdir "$work/small/w" --crop 64 --resize 72 -q >/dev/null
set +e
msg=$("$visrec" preprocess --catalog "$work/cat/catalog.csv" --workdir "$work/small/w" -q 2>&1 >/dev/null)
rc=$?
set -e
echo "second write: exit $rc: $msg"
[ "$rc" -eq 9 ] || { echo "FAIL: expected exit code 9"; exit 1; }
"$visrec" verify "$work/small/w/preprocess" -q >/dev/null || { echo "FAIL: earlier artifact damaged"; exit 1; }
[ -z "$(find "$work/small/w" -name '.tmp-*')" ] || { echo "FAIL: staging left behind"; exit 1; }
echo "ok: earlier artifact intact, no staging left"
