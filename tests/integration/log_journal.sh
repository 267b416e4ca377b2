#!/bin/bash
# remusd's log lines: on stderr "2026-12-07T13:05:01.123Z remusd[PID]: ..."
# (UTC, milliseconds); under systemd (JOURNAL_STREAM names stderr) entries
# in the journal with PRIORITY, MESSAGE, SYSLOG_IDENTIFIER and, for a guest,
# GUEST= (and EPOCH= where the daemon knows it), nothing on stderr.
#
# The journal is a stand-in: in a private mount namespace a tmpfs covers
# /run and a datagram socket at /run/systemd/journal/socket (where
# libsystemd's sd_journal_send writes) records what arrives.  remusd runs
# in its own network namespace; a counter guest is started and protected
# towards a port nobody listens on, so its session logs state changes.
set -euo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (namespaces)"; exit 77; }
[ -f "$BUILD/tests/pvm/counter.elf" ] || { echo "SKIP: counter guest not built"; exit 77; }
stage=$(mktemp -d)
trap '[ -n "$KEEP" ] || rm -rf "$stage"' EXIT
KEEP=${KEEP:-}
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$stage/key"
chmod 0600 "$stage/key"
cat >"$stage/remus.conf" <<CONF
[global]
listen_address = *
key_file = $stage/key
control_socket = $stage/ctl.sock

[guest counter]
type = pvm
image = $PWD/$BUILD/tests/pvm/counter.elf
mem = 16M
netbuf = none
diskrep = none
unsafe = no-netbuf,no-diskrep
CONF

# run_daemon MODE: remusd with stderr in $stage/MODE.err; MODE journal sets
# JOURNAL_STREAM to that file.  Datagrams go to $stage/MODE.journal.
cat >"$stage/run.sh" <<'SH'
set -euo pipefail
stage=$1 mode=$2 remusd=$3 remusctl=$4
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
python3 - "$stage/$mode.journal" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
s.settimeout(20)
with open(sys.argv[1], "wb") as out:
    out.write(b"")
    out.flush()
    try:
        while True:
            d = s.recv(65536)
            out.write(d.replace(b"\n", b"\x1f") + b"\n")   # one entry per line
            out.flush()
    except OSError:
        pass
PY
rx=$!
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
: >"$stage/$mode.err"
if [ "$mode" = journal ]; then
	export JOURNAL_STREAM=$(stat -c '%d:%i' "$stage/$mode.err")
else
	unset JOURNAL_STREAM
fi
unshare --net "$remusd" -c "$stage/remus.conf" 2>>"$stage/$mode.err" &
d=$!
for _ in $(seq 100); do [ -S "$stage/ctl.sock" ] && break; sleep 0.05; done
"$remusctl" -s "$stage/ctl.sock" start counter >/dev/null
"$remusctl" -s "$stage/ctl.sock" protect counter --peer 127.0.0.1:9 --wait 10 >/dev/null 2>&1 || true
kill "$d"
wait "$d" || true
kill "$rx" 2>/dev/null || true
wait "$rx" 2>/dev/null || true
rm -f "$stage/ctl.sock"
SH
for mode in stderr journal; do
	unshare --mount --propagation private bash "$stage/run.sh" "$stage" "$mode" \
		"$BUILD/bin/remusd" "$BUILD/bin/remusctl"
done

fail() { echo "FAIL: $*"; echo "--- stderr run:"; cat "$stage/stderr.err"; echo "--- journal run, stderr:"; cat "$stage/journal.err"; echo "--- journal run, entries:"; tr '\037' ' ' <"$stage/journal.journal"; exit 1; }
ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'

# Without the journal: every line stamped, nothing sent to the journal.
[ -s "$stage/stderr.err" ] || fail "no stderr lines without the journal"
bad=$(grep -cvE "^$ts remusd\[[0-9]+\]: " "$stage/stderr.err" || true)
[ "$bad" = 0 ] || fail "$bad stderr line(s) without 'TIME remusd[PID]: '"
grep -qE "^$ts remusd\[[0-9]+\]: guest counter: " "$stage/stderr.err" || fail "no guest line on stderr"
[ ! -s "$stage/stderr.journal" ] || fail "entries sent to the journal while stderr is not it"
# The stamp is now, in UTC (within the run's minutes).
first=$(head -1 "$stage/stderr.err" | cut -d' ' -f1)
age=$(( $(date -u +%s) - $(date -u -d "$first" +%s) ))
[ "$age" -ge 0 ] && [ "$age" -lt 300 ] || fail "first stamp $first is $age s from now"

# Under the journal: structured entries, nothing on stderr.
[ ! -s "$stage/journal.err" ] || fail "stderr lines while stderr is the journal"
j=$stage/journal.journal
grep -q $'MESSAGE=ready: replication port' "$j" || fail "no 'ready' entry"
grep 'MESSAGE=ready: ' "$j" | grep -q $'\x1fPRIORITY=6\x1f\|^PRIORITY=6\x1f' || fail "'ready' is not PRIORITY=6 (info)"
grep 'MESSAGE=ready: ' "$j" | grep -q $'SYSLOG_IDENTIFIER=remusd' || fail "no SYSLOG_IDENTIFIER=remusd"
grep 'MESSAGE=guest counter: ' "$j" | grep -q $'\x1fGUEST=counter' || fail "guest entries lack GUEST=counter"
grep 'MESSAGE=ready: ' "$j" | grep -q 'GUEST=' && fail "the daemon's own entry has a GUEST= field"
! grep -q 'CODE_FILE=lib/util/log.c' "$j" || fail "entries name the logger's own source (CODE_FILE) instead of nothing"
n=$(wc -l <"$j")
echo "log_journal: stderr lines stamped ISO 8601 UTC with ms; under the journal $n entries with PRIORITY/MESSAGE/SYSLOG_IDENTIFIER, guest ones with GUEST=, stderr silent"
