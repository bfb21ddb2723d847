#!/usr/bin/env bash
# Installs the Debian packages that tickrt's build, tests and tools need, and only those that are missing.
# Idempotent: a second run installs nothing and prints nothing but a one-line summary.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libzmq3-dev cppzmq-dev
  libboost-dev
  libflatbuffers-dev flatbuffers-compiler
  libfmt-dev catch2 nlohmann-json3-dev libcli11-dev
  python3-torch python3-numpy python3-matplotlib
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
