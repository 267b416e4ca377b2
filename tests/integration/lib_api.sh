#!/bin/bash
# libremus exports its documented API only, and its installed headers each
# compile alone:
#  - internal names (logging, the stream reader's internals, the relay, the
#    disk channel, backends and drivers by name) are defined in libremus.a
#    (so the check can fail) but absent from libremus.so's dynamic symbols;
#    the public ones (util/err.h, stream, hv, net, ckpt) are present;
#  - every header `make install` puts in include/remus compiles alone
#    (-Werror), and twice in one unit (include guards).
set -euo pipefail
BUILD=${BUILD:-build}
so=$BUILD/lib/libremus.so
ar=$BUILD/lib/libremus.a
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$so" ] && [ -f "$ar" ] || fail "build $so and $ar first (make)"

nm -D --defined-only "$so" | awk '{print $3}' | sort -u > "$stage/dyn"
nm --defined-only "$ar" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u > "$stage/static"
internal="log_init log_warnx fatal fatalx st_fail relay_run disk_channel_deliver_in diskrep_backend
	diskrep_drbd_probe netbuf_open xen_guest_rename xen_daemon_check pvm_hv_ops xen_hv_ops
	pvm_stub_final ckpt_stream_sender_new"
public="remus_err_set remus_err_wrap stream_strerror stream_reader_init stream_put_xl_header
	hv_driver hv_blob_free rnet_connect rnet_listen rnet_conn_free ckpt_sender_new
	ckpt_receiver_new ckpt_sender_run"
for s in $internal; do
	grep -qx "$s" "$stage/static" || fail "$s is not defined in $ar (the list is stale)"
	if grep -qx "$s" "$stage/dyn"; then fail "internal $s is exported by $so"; fi
done
for s in $public; do
	grep -qx "$s" "$stage/dyn" || fail "public $s is not exported by $so"
done
echo "exports: $(wc -l < "$stage/dyn") symbols, no internal one of $(echo $internal | wc -w) checked"

make -s --no-print-directory install BUILD="$BUILD" PREFIX=/usr DESTDIR="$stage/root" >/dev/null
inc=$stage/root/usr/include/remus
n=0
while IFS= read -r h; do
	rel=${h#"$inc"/}
	printf '#include "%s"\n#include "%s"\n' "$rel" "$rel" > "$stage/one.c"
	cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$inc" "$stage/one.c" 2> "$stage/err" ||
		{ cat "$stage/err"; fail "installed header $rel does not compile alone"; }
	n=$((n + 1))
done < <(find "$inc" -name '*.h' | sort)
[ "$n" -ge 7 ] || fail "only $n headers installed"
echo "headers: $n installed, each compiles alone"
