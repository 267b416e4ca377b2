#!/bin/bash
# `make install` honours PREFIX and DESTDIR, installs libremus with its
# headers and a remus.pc that a consumer can build against.
set -euo pipefail
BUILD=${BUILD:-build}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

make -s --no-print-directory install BUILD="$BUILD" PREFIX=/opt/remus-test DESTDIR="$stage/root" >/dev/null
pc=$stage/root/opt/remus-test/lib/pkgconfig/remus.pc
[ -f "$pc" ] || { echo "FAIL: remus.pc not installed under DESTDIR/PREFIX"; exit 1; }
grep -qx 'prefix=/opt/remus-test' "$pc" || { echo "FAIL: remus.pc prefix is not PREFIX:"; cat "$pc"; exit 1; }
for f in lib/libremus.a lib/libremus.so.0 include/remus/util/err.h include/remus/hv/hv.h; do
	[ -e "$stage/root/opt/remus-test/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
for p in $(sed -n 's/^\(PROGRAMS\) *+= *//p' $(find . -name module.mk -not -path "./$BUILD/*") | tr ' ' '\n' | sort -u); do
	[ -x "$stage/root/opt/remus-test/bin/$p" ] || { echo "FAIL: program $p not installed"; exit 1; }
done

# A consumer resolves flags through pkg-config (with the DESTDIR as sysroot).
cat > "$stage/consumer.c" <<'C'
#include <util/err.h>
int main(void)
{
	struct remus_err e;
	return remus_err_set(&e, 3, "x%d", 1) == 3 && e.msg[1] == '1' ? 0 : 1;
}
C
flags=$(PKG_CONFIG_PATH="$stage/root/opt/remus-test/lib/pkgconfig" \
	PKG_CONFIG_SYSROOT_DIR="$stage/root" pkg-config --cflags --libs --static remus)
# shellcheck disable=SC2086
cc -std=c11 -o "$stage/consumer" "$stage/consumer.c" $flags
LD_LIBRARY_PATH="$stage/root/opt/remus-test/lib" "$stage/consumer" || { echo "FAIL: consumer built against the installed libremus failed"; exit 1; }
echo "install: PREFIX/DESTDIR honoured, remus.pc usable"
