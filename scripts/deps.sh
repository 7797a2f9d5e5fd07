#!/usr/bin/env bash
# Installs the Debian packages sdoh-bridge needs (only those missing). apt-get as root, sudo
# otherwise. Usage: scripts/deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libcurl4-openssl-dev rapidjson-dev libboost-dev
          libyaml-cpp-dev libssl-dev libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
          ca-certificates)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(clang-format curl chromium fonts-dejavu-core)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
