#!/usr/bin/env bash
# Installs every Debian package kvcachefs needs to build, test and run. Idempotent: a package
# that is already installed is left alone, and apt-get runs only when something is missing.
set -euo pipefail

packages=(
  g++ cmake make pkg-config dpkg-dev file
  libfuse3-dev fuse3
  libfmt-dev libtomlplusplus-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang clang-format-14 libclang-rt-14-dev
  attr util-linux procps psmisc rsync
  python3-numpy python3-torch
  fio bc time
  gnuplot-nox
  redis-server redis-tools libhiredis-dev
  prometheus
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
