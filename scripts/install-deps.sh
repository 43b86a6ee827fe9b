#!/usr/bin/env bash
# Installs the Debian 12 packages plugvisor builds, tests and runs with. Does nothing when they
# are all there already, so the other scripts can call it every time.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libpq-dev postgresql
  libfmt-dev libspdlog-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev catch2
  libseccomp-dev libcurl4-openssl-dev libssl-dev libc-ares-dev libgoogle-perftools-dev
  libre2-dev util-linux procps
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
