#!/usr/bin/env bash
# moragrad setup: installs the npm dependencies and makes sure a WebGPU adapter exists.
# Idempotent: a second run only checks (seconds). A machine with a real GPU driver needs nothing here.
#
#   bash scripts/setup.sh          # install deps, find or install a WebGPU adapter, print it
#   bash scripts/setup.sh --bench  # also the benchmark's peers (bench/package.json: TensorFlow.js, ONNX Runtime)
#
# On a Debian/Ubuntu machine without a GPU (CI, containers) it installs Mesa's lavapipe (a Vulkan
# driver on the CPU) from a release new enough for Dawn: Debian 12's own Mesa 22 is refused by Dawn,
# so on bookworm it takes mesa-vulkan-drivers from the bookworm-backports suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/moragrad-xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

say() { printf '[setup] %s\n' "$*"; }

case "${1:-}" in
  '' | --bench) ;;
  *) say "unknown argument '$1' (expected none, or --bench)"; exit 2 ;;
esac

# onnxruntime-node (a bench peer) would download GPU binaries from the network in its install
# script; its CPU binaries ship in the package, so skip that step.
export ONNXRUNTIME_NODE_INSTALL=skip
export ONNXRUNTIME_NODE_INSTALL_CUDA=skip

# 1. npm dependencies (npm ci when node_modules is missing or older than the lockfile); builds dist/.
# A linked node_modules (a git worktree sharing another checkout's) is left alone: npm ci would
# empty the checkout it points to.
if [ -L node_modules ]; then
  say "node_modules is a link to $(readlink node_modules): not reinstalling it"
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
else
  say "npm dependencies up to date"
fi
# The benchmark's peers (600 MB) live in their own package, installed only for `npm run bench`.
if [ "${1:-}" = --bench ]; then
  if [ -L bench/node_modules ]; then
    say "bench/node_modules is a link to $(readlink bench/node_modules): not reinstalling it"
  elif [ ! -d bench/node_modules ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
    say "installing the benchmark's peers (npm ci in bench/)"
    (cd bench && npm ci --no-audit --no-fund)
  else
    say "benchmark peers up to date"
  fi
fi
if [ ! -f dist/index.js ] || [ -n "$(find src -newer dist/index.js -name '*.ts' -print -quit)" ]; then
  say "building dist/"
  node scripts/build.mjs
fi

# Dawn prints two harmless limit warnings on lavapipe; keep the output to the adapter line.
probe() { node scripts/probe-adapter.mjs 2>&1 | grep -v "artificially reduced"; return "${PIPESTATUS[0]}"; }

# 2. A WebGPU adapter?
if out=$(probe 2>&1); then say "$out"; exit 0; fi
say "no WebGPU adapter yet: $out"

# 3. Install lavapipe where we know how.
if [ -r /etc/os-release ]; then . /etc/os-release; fi
id_like="${ID:-} ${ID_LIKE:-}"
if [[ "$id_like" != *debian* && "$id_like" != *ubuntu* ]]; then
  say "not Debian/Ubuntu: install a Vulkan driver (a GPU driver, or Mesa >= 23 with lavapipe) and rerun"
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  say "run as root (or with sudo) to install Mesa's lavapipe: apt-get install mesa-vulkan-drivers (Mesa >= 23)"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding the bookworm-backports suite"
    # Same archive and keyring as the configured bookworm suites.
    uri=$(grep -rhs '^URIs:.*debian$' /etc/apt/sources.list.d/*.sources | head -1 | awk '{print $2}')
    uri=${uri:-http://deb.debian.org/debian}
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" > /etc/apt/sources.list.d/moragrad-backports.sources
  fi
  apt-get update -qq
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  apt-get update -qq
  apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi

# 4. Verify.
if out=$(probe 2>&1); then say "$out"; exit 0; fi
say "still no WebGPU adapter after installing lavapipe: $out"
say "Dawn needs Mesa >= 23 (installed: $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo none))"
exit 1
