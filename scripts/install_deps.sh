#!/usr/bin/env bash
# Installs (idempotently) every Debian 12 package cxrtrain needs to build, test and run.
# Safe to re-run: only missing packages are fetched. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
  libopencv-dev zlib1g-dev libboost-dev libkainjow-mustache-dev
  python3-torch python3-torchvision python3-h5py python3-sklearn python3-scipy python3-numpy
  chromium fonts-dejavu-core   # the report test renders index.html headless (e2e_report)
  slurm-wlm munge              # the Slurm test starts a one-node Slurm (tests/slurm, scripts/slurm_local.sh)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install_deps: installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
