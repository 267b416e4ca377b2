#!/bin/bash
# `make install` honours PREFIX and DESTDIR, installs libremus with its
# headers and a remus.pc that a consumer can build against, the man pages,
# remusd.service (ExecStart from PREFIX; `systemd-analyze verify` clean),
# remusctl's bash completion (tried with bash: commands, options, guest
# names from a running remusd) and remus.conf.example as documentation.
set -euo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.."
stage=$(mktemp -d)
daemon=
cleanup() {
	[ -z "$daemon" ] || { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; }
	rm -rf "$stage"
}
trap cleanup EXIT
mk() { make -s --no-print-directory BUILD="$BUILD" "print-$1"; }
export LC_ALL=C

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
grep -qx "Version: $(mk REMUS_VERSION)" "$pc" || { echo "FAIL: remus.pc Version is not REMUS_VERSION"; exit 1; }

# Man pages, documentation, the unit and the completion, where Debian puts them.
root=$stage/root/opt/remus-test
nman=0
for m in $(mk MAN_PAGES); do
	f=$root/share/man/man${m##*.}/${m##*/}
	{ [ -f "$f" ] && cmp -s "$m" "$f"; } || { echo "FAIL: man page ${m##*/} not installed as $f"; exit 1; }
	nman=$((nman + 1))
done
[ "$nman" -ge 7 ] || { echo "FAIL: only $nman man pages installed"; exit 1; }
cmp -s etc/remus.conf.example "$root/share/doc/remus/remus.conf.example" ||
	{ echo "FAIL: remus.conf.example not in share/doc/remus"; exit 1; }
[ -x "$root/lib/ocf/resource.d/remus/remus" ] && cmp -s etc/ocf/remus "$root/lib/ocf/resource.d/remus/remus" ||
	{ echo "FAIL: the OCF agent not installed as lib/ocf/resource.d/remus/remus"; exit 1; }
[ -x "$root/sbin/fence_remusns" ] && cmp -s etc/fence/fence_remusns "$root/sbin/fence_remusns" ||
	{ echo "FAIL: the fence agent not installed as sbin/fence_remusns"; exit 1; }
unit=$root/lib/systemd/system/remusd.service
[ -f "$unit" ] || { echo "FAIL: remusd.service not installed in lib/systemd/system"; exit 1; }
for want in 'ExecStart=/opt/remus-test/bin/remusd -c /etc/remus/remus.conf' 'Type=notify' \
	'ExecReload=/bin/kill -HUP $MAINPID'; do
	grep -qxF "$want" "$unit" || { echo "FAIL: remusd.service lacks '$want':"; cat "$unit"; exit 1; }
done
! grep -q '@[A-Z]*@' "$unit" || { echo "FAIL: remusd.service keeps a placeholder"; exit 1; }
compl=$root/share/bash-completion/completions/remusctl
[ -f "$compl" ] || { echo "FAIL: bash completion not in share/bash-completion/completions/remusctl"; exit 1; }

# The completion, with bash: source it, set COMP_WORDS/COMP_CWORD, call
# it, read COMPREPLY.  Guest names come from `remusctl list` of a remusd
# started here (as root in its own network namespace, so its port is free).
cat >"$stage/key" < <(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
chmod 0600 "$stage/key"
cat >"$stage/remus.conf" <<CONF
[global]
listen_address = *
key_file = $stage/key
control_socket = $stage/ctl.sock

[guest kvstore]
image = $stage/kvstore.elf
mem = 16M

[guest web-1]
type = xen
mem = 16M
netbuf = none
unsafe = no-netbuf
CONF
if [ "$(id -u)" = 0 ]; then
	unshare --net "$root/bin/remusd" -c "$stage/remus.conf" 2>"$stage/remusd.log" &
else    # no namespace: a port of its own on loopback
	sed -i "s/^listen_address = \*/listen_address = 127.0.0.1\nlisten_port = $((20000 + $$ % 20000))/" "$stage/remus.conf"
	"$root/bin/remusd" -c "$stage/remus.conf" 2>"$stage/remusd.log" &
fi
daemon=$!
for _ in $(seq 100); do [ -S "$stage/ctl.sock" ] && break; sleep 0.05; done
[ -S "$stage/ctl.sock" ] || { echo "FAIL: remusd did not start:"; cat "$stage/remusd.log"; exit 1; }

# complete WORD...: COMPREPLY (sorted, one line) for the last word
complete_line() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_remusctl; [ ${#COMPREPLY[@]} = 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
		_ "$compl" "$@"
}
expect_completion() {
	local want=$1 got
	shift
	got=$(complete_line "$@")
	[ "$got" = "$want" ] || { echo "FAIL: completing '$*': got '$got', want '$want'"; exit 1; }
}
ctl=$root/bin/remusctl
cmds=$("$ctl" --help | sed -n '/^commands:/,/^options:/p' | sed '1d;$d' | awk '{print $1}' | sort | tr '\n' ' ')
expect_completion "$cmds" "$ctl" ""
expect_completion "protect " "$ctl" pro
expect_completion "start stats status store " "$ctl" -s "$stage/ctl.sock" st
expect_completion "read rm " "$ctl" -s "$stage/ctl.sock" store kvstore r
expect_completion "kvstore web-1 " "$ctl" -s "$stage/ctl.sock" protect ""
expect_completion "web-1 " "$ctl" --socket "$stage/ctl.sock" evacuate w
expect_completion "kvstore " "$ctl" status --socket="$stage/ctl.sock" k
expect_completion "" "$ctl" -s "$stage/ctl.sock" protect kvstore ""
expect_completion "--peer " "$ctl" protect kvstore --pe
expect_completion "--wait " "$ctl" protect kvstore --wa
expect_completion "no-diskrep no-netbuf " "$ctl" protect kvstore --unsafe no-
expect_completion "--force " "$ctl" resume kvstore --f
# a guest name needs the daemon: none without it
expect_completion "" "$ctl" -s "$stage/no-such.sock" protect ""
grep -q '^complete -F _remusctl remusctl$' "$compl" || { echo "FAIL: completion not registered for remusctl"; exit 1; }

# The unit: `systemd-analyze verify` on the unit as installed with a
# PREFIX whose remusd exists (no DESTDIR), the man pages of its
# Documentation= found through MANPATH.  Any message is a failure.
if ! command -v systemd-analyze >/dev/null; then
	echo "install: layout, remus.pc and completion checked; SKIP: systemd-analyze is missing"
	exit 77
fi
make -s --no-print-directory install BUILD="$BUILD" PREFIX="$stage/prefix" >/dev/null
out=$(MANPATH="$stage/prefix/share/man" systemd-analyze verify \
	"$stage/prefix/lib/systemd/system/remusd.service" 2>&1) ||
	{ echo "FAIL: systemd-analyze verify: $out"; exit 1; }
[ -z "$out" ] || { echo "FAIL: systemd-analyze verify: $out"; exit 1; }
echo "install: PREFIX/DESTDIR honoured, remus.pc usable, $nman man pages, remusd.service verified, completion of commands, options and guests"
