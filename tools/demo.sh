#!/usr/bin/env bash
# README command 1: install what is missing, build, make the bundled sample catalog, run the whole
# pipeline on it (hold out each user's last interaction, train, evaluate), draw the report pictures,
# print where results are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh
[ -f sample-catalog/catalog.csv ] || ./build/visrec sample --out sample-catalog
./build/visrec run --config data/demo.toml
./build/visrec report --workdir visrec-work --thumbnails 40 -q
echo
echo "Artifacts: visrec-work/<stage>/<version>/ (inspect one with: ./build/visrec inspect visrec-work/reduce)"
echo "Pictures:  visrec-work/report/index.html (contact sheets, users' histories and recommendations, catalog map)"
