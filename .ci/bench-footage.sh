#!/usr/bin/env bash
# The coherence bench on real footage (bench/footage.ts, docs/coherence.md): installs Debian's
# opencv-doc, whose examples hold vtest.avi (a static-camera street scene) and starry_night.jpg —
# read where the package puts them, never copied into the repository — then runs the bench once per
# network and size given (defaults: the README's table). Content-init's runs are cached per user.
#   .ci/bench-footage.sh                         # the README table's rows
#   .ci/bench-footage.sh he-narrow:96:48         # one row: network:size:frames
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=/usr/share/doc/opencv-doc/examples/data
if [ ! -f "$DATA/vtest.avi" ] || [ ! -f "$DATA/starry_night.jpg" ]; then
  apt-get update -qq && apt-get install -y -qq opencv-doc
fi
# Debian may ship the examples compressed.
for f in vtest.avi starry_night.jpg; do
  if [ ! -f "$DATA/$f" ] && [ -f "$DATA/$f.gz" ]; then mkdir -p /tmp/opencv-data && gunzip -c "$DATA/$f.gz" > "/tmp/opencv-data/$f"; fi
done
[ -f "$DATA/vtest.avi" ] || DATA=/tmp/opencv-data
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(sinusoidal:96:6 he-narrow:96:6 he-narrow:96:48 sinusoidal:128:6 he-narrow:128:6 sinusoidal:256:6 he-narrow:256:6 he-full:96:6 sinusoidal:512:6 he-narrow:512:6)
for row in "${rows[@]}"; do
  IFS=: read -r net size frames <<<"$row"
  npx tsx bench/footage.ts --clip "$DATA/vtest.avi" --style "$DATA/starry_night.jpg" --net "$net" --size "$size" --frames "$frames" --epochs 2 --steps-per-epoch 25
done
