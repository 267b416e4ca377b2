#!/bin/bash
# Every installed program (PROGRAMS of the build) and every subcommand:
#  - `--help` and `-h` exit 0 with the usage on stdout and nothing on stderr;
#  - the help names every option the program's getopt tables accept (long
#    names from `struct option` arrays, letters from the optstring);
#  - `--version` prints "PROG (remus) VERSION", VERSION from the Makefile;
#  - an unknown option exits 2 with the usage on stderr, nothing on stdout;
#  - remusctl: every command the code dispatches on is in the help, and
#    each has its own `remusctl CMD --help`; a missing guest exits 2.
. "$(dirname "$0")/cli_lib.sh"

version=$(mk REMUS_VERSION)
[ -n "$version" ] || { echo "FAIL: REMUS_VERSION is empty"; exit 1; }

# run NAME ARGS...: exit status in $rc, output in $tmp/out and $tmp/err
run() {
	rc=0
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
}

# help_ok WHAT CMD...: help on stdout, status 0, stderr empty
help_ok() {
	local what=$1; shift
	run "$@"
	[ "$rc" = 0 ] || fail "$what: exit $rc, want 0 ($(head -c 200 "$tmp/err"))"
	grep -q '^usage:' "$tmp/out" || fail "$what: no 'usage:' on stdout"
	[ ! -s "$tmp/err" ] || fail "$what: wrote to stderr: $(head -c 200 "$tmp/err")"
}

# usage_err WHAT CMD...: status 2, usage on stderr, stdout empty
usage_err() {
	local what=$1; shift
	run "$@"
	[ "$rc" = 2 ] || fail "$what: exit $rc, want 2"
	grep -q 'usage:' "$tmp/err" || fail "$what: no usage on stderr"
	[ ! -s "$tmp/out" ] || fail "$what: wrote to stdout: $(head -c 200 "$tmp/out")"
}

# Options the program's sources declare: long names of `struct option`
# entries, then "-X" for each letter of getopt optstrings.
declared_options() {
	local srcs=$1
	# shellcheck disable=SC2086
	grep -ohE '\{ *"[a-z][a-z0-9-]*", *(no|required|optional)_argument' $srcs |
		sed -E 's/\{ *"([^"]*)".*/--\1/' | sort -u
	# shellcheck disable=SC2086
	grep -ohE 'getopt(_long)? *\([^"]*"[^"]*"' $srcs | sed -E 's/.*"([^"]*)"$/\1/' |
		tr -d ':+-' | grep -o . | sed 's/^/-/' | sort -u || true
}

# mentions FILE OPT: OPT appears in FILE as an option word
mentions() {
	grep -qE -- "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|$)" "$1"
}

nprog=0 nopt=0 nsub=0
for p in $(mk PROGRAMS); do
	bin=$BUILD/bin/$p
	[ -x "$bin" ] || { fail "$p: $bin not built"; continue; }
	nprog=$((nprog + 1))
	help_ok "$p --help" "$bin" --help
	cp "$tmp/out" "$tmp/help.$p"
	help_ok "$p -h" "$bin" -h
	cmp -s "$tmp/out" "$tmp/help.$p" || fail "$p: -h and --help differ"
	run "$bin" --version
	[ "$rc" = 0 ] || fail "$p --version: exit $rc"
	[ "$(cat "$tmp/out")" = "$p (remus) $version" ] ||
		fail "$p --version printed '$(cat "$tmp/out")', want '$p (remus) $version'"
	usage_err "$p --no-such-option" "$bin" --no-such-option

	srcs=$(for f in $(mk "${p}_SRCS"); do grep -l 'getopt' "$f" || true; done)
	[ -n "$srcs" ] || fail "$p: no source with getopt among ${p}_SRCS"
	for o in $(declared_options "$srcs"); do
		nopt=$((nopt + 1))
		mentions "$tmp/help.$p" "$o" || fail "$p: option $o is accepted but not in --help"
	done

	# Subcommands named in the help as "PROG WORD" (pvm run, remus-stream dump).
	for s in $(grep -oE "(^|[ :])$p [a-z]+" "$tmp/help.$p" | awk '{print $NF}' | sort -u); do
		nsub=$((nsub + 1))
		help_ok "$p $s --help" "$bin" "$s" --help
	done
done

# remusctl: the commands section of the help, against what main dispatches.
ctl=$BUILD/bin/remusctl
sed -n '/^commands:/,/^options:/p' "$tmp/help.remusctl" | sed '1d;$d' | awk '{print $1}' >"$tmp/cmds"
[ -s "$tmp/cmds" ] || fail "remusctl --help lists no commands"
for c in $(grep -oE 'strcmp\(cmd, "[a-z-]+"\)' remusd/remusctl.c | sed -E 's/.*"(.*)".*/\1/' | sort -u); do
	grep -qx "$c" "$tmp/cmds" || fail "remusctl: command '$c' is handled but not in --help"
done
nosock=$tmp/no-such.sock
for c in $(cat "$tmp/cmds"); do
	nsub=$((nsub + 1))
	help_ok "remusctl $c --help" "$ctl" -s "$nosock" "$c" --help
	grep -q "remusctl \[-s SOCKET\] $c" "$tmp/out" || fail "remusctl $c --help: no synopsis of $c"
	cp "$tmp/out" "$tmp/help.$c"
	help_ok "remusctl --help $c" "$ctl" --help "$c"
	cmp -s "$tmp/out" "$tmp/help.$c" || fail "remusctl: --help before and after $c differ"
	usage_err "remusctl $c --no-such-option" "$ctl" -s "$nosock" "$c" --no-such-option
	usage_err "remusctl $c with too many arguments" "$ctl" -s "$nosock" "$c" g1 g2
done
# the per-command options (the issue found --wait missing)
for pair in protect:--wait protect:--peer protect:--unsafe status:--json stats:--json resume:--force; do
	c=${pair%%:*} o=${pair#*:}
	mentions "$tmp/help.$c" "$o" || fail "remusctl $c --help does not list $o"
done
usage_err "remusctl (no command)" "$ctl" -s "$nosock"
usage_err "remusctl no-such-command" "$ctl" -s "$nosock" no-such-command
usage_err "remusctl evacuate (no guest)" "$ctl" -s "$nosock" evacuate
usage_err "remusctl --unsafe bad" "$ctl" -s "$nosock" protect g --unsafe no-such
usage_err "remusctl --wait bad" "$ctl" -s "$nosock" protect g --wait soon
usage_err "remusctl --wait 0" "$ctl" -s "$nosock" protect g --wait 0
usage_err "remusd without -c" "$BUILD/bin/remusd"

[ "$fails" = 0 ] || { echo "cli_help: $fails failure(s)"; exit 1; }
echo "cli_help: $nprog programs, $nopt declared options, $nsub subcommands: help, version and usage errors as documented"
