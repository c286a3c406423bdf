#!/usr/bin/env bash
# The coherence bench on real footage (bench/footage.ts, docs/coherence.md): installs Debian's
# opencv-doc, whose examples hold vtest.avi (a static-camera street scene), Megamind.avi (an animated
# pan), tree.avi (leaves and a hand) and starry_night.jpg — read where the package puts them, never
# copied into the repository — then runs the bench once per row given (defaults: the README's table).
# Content-init's runs are cached per user.
#   .ci/bench-footage.sh                               # the README table's rows
#   .ci/bench-footage.sh vtest:0:he-narrow:256:6        # one row: clip:start seconds:network:size:frames
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=/usr/share/doc/opencv-doc/examples/data
CLIPS=(vtest.avi Megamind.avi tree.avi starry_night.jpg)
if [ ! -f "$DATA/vtest.avi" ] && [ ! -f "$DATA/vtest.avi.gz" ]; then
  apt-get update -qq && apt-get install -y -qq opencv-doc
fi
# Debian may ship the examples compressed.
for f in "${CLIPS[@]}"; do
  if [ ! -f "$DATA/$f" ] && [ -f "$DATA/$f.gz" ]; then mkdir -p /tmp/opencv-data && gunzip -c "$DATA/$f.gz" > "/tmp/opencv-data/$f"; fi
done
[ -f "$DATA/vtest.avi" ] || DATA=/tmp/opencv-data
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(vtest:0:he-narrow:96:48 vtest:0:he-full:96:48 Megamind:0:he-narrow:96:48 Megamind:0:he-full:96:48 tree:22:he-narrow:96:48 tree:22:he-full:96:48)
for row in "${rows[@]}"; do
  IFS=: read -r clip start net size frames <<<"$row"
  npx tsx bench/footage.ts --clip "$DATA/$clip.avi" --start "$start" --style "$DATA/starry_night.jpg" --net "$net" --size "$size" --frames "$frames" --epochs 2 --steps-per-epoch 25
done
