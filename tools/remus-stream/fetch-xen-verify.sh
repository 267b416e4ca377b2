#!/bin/bash
# Fetch Xen 4.17's stream checker (verify-stream-v2, from xen-utils-4.17)
# into DIR without installing it: `apt-get download` + `dpkg -x`.  Cached:
# a no-op once DIR/.stamp exists.  Never fails the build: when the package
# cannot be fetched it says why, and the tests that need it skip.
# Usage: fetch-xen-verify.sh DIR
set -uo pipefail
dir=$1
[ -e "$dir/.stamp" ] && exit 0
mkdir -p "$dir/deb"
cd "$dir/deb" || exit 0
fetch() { ls xen-utils-4.17_*.deb >/dev/null 2>&1 || apt-get download -q xen-utils-4.17 >/dev/null 2>&1; }
if ! fetch; then
	# a fresh machine may have empty package lists
	[ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1
	if ! fetch; then
		echo "fetch-xen-verify: cannot download xen-utils-4.17 (offline?);" \
		    "tests using Xen's verify-stream-v2 will be skipped" >&2
		exit 0
	fi
fi
rm -rf ../root ../unpack
dpkg -x xen-utils-4.17_*.deb ../unpack || { echo "fetch-xen-verify: dpkg -x failed" >&2; exit 0; }
# keep only the checker: the package also holds *.d directories, which the
# top Makefile would take for dependency files under $(BUILD)
x=usr/lib/xen-4.17
mkdir -p "../root/$x/bin" "../root/$x/lib"
mv "../unpack/$x/bin/verify-stream-v2" "../root/$x/bin/" 2>/dev/null
mv "../unpack/$x/lib/python" "../root/$x/lib/" 2>/dev/null
rm -rf ../unpack
find ../root -name '*.d' -exec rm -rf {} + 2>/dev/null
if [ -x ../root/usr/lib/xen-4.17/bin/verify-stream-v2 ]; then
	touch ../.stamp
	echo "fetch-xen-verify: verify-stream-v2 unpacked in $dir/root"
else
	echo "fetch-xen-verify: verify-stream-v2 not found in the package" >&2
fi
exit 0
