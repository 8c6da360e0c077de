#!/usr/bin/env bash
# Installs every Debian 12 package weakdistill needs and builds it into build/.
# Usage: scripts/setup.sh            (as root, or with sudo available)
# Environment: BUILD_TYPE (default Release), JOBS (default: all cores),
#              WEAKDISTILL_SKIP_APT=1 to skip the package step.
set -euo pipefail
cd "$(dirname "$0")/.."

# One list, for this and every later issue: build tools, libraries, and the
# Python packages the tests use as independent references.
PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev libssl-dev openssl libcpp-httplib-dev zlib1g-dev libbrotli-dev
  libtorch-dev libfasttext-dev fasttext libopenblas-dev libicu-dev
  python3 python3-nltk python3-numpy python3-torch python3-aiohttp
  chromium
  clang libclang-rt-14-dev
)

if [[ "${WEAKDISTILL_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: all ${#PACKAGES[@]} Debian packages are installed"
  fi
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}"
cmake --build build -j "${JOBS:-$(nproc)}"
echo "setup: built build/weakdistill"
