#!/bin/bash
# Install the Debian packages remus needs to build and test (idempotent).
# Usage: scripts/deps.sh PKG...   — a no-op when every package is present.
set -euo pipefail
missing=()
for p in "$@"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "deps: not root: run 'sudo make deps' (or install the packages above with apt-get) and try again" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists; refresh them once per run.
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: installed ${#missing[@]} package(s)"
