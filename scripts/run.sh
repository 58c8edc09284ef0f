#!/usr/bin/env bash
# Installs, builds and installs kvcachefs, then mounts it on /kvcache (or $1) with a pool named
# "default". Stop it with: umount /kvcache
set -euo pipefail
cd "$(dirname "$0")/.."
mountpoint=${1:-/kvcache}
scripts/build.sh
cmake --install build >/dev/null
mkdir -p "$mountpoint"
if mountpoint -q "$mountpoint"; then
  echo "kvcachefs: $mountpoint is already mounted (umount $mountpoint to stop it)"
else
  mount -t fuse.kvcachefs kvcachefs "$mountpoint" -o size=1G,policy=lru
fi
[ -d "$mountpoint/default" ] || mkdir "$mountpoint/default"
echo "kvcachefs is mounted on $mountpoint with pool $mountpoint/default:"
cat "$mountpoint/default/.stats" | head -8
echo "Stop it with: umount $mountpoint"
