#!/bin/bash
# The man pages (docs/man/*.scd, built into $BUILD/man by `make`):
#  - every program of the build has one, and `man --warnings -l` on each
#    built page prints no warning;
#  - each program's options: those its --help lists (which cli_help.sh
#    checks against the getopt tables) are in its page, and the options the
#    page defines are in --help;
#  - remusctl's commands and options agree between --help, remusctl.8 and
#    docs/remusctl.md; remus.conf's keys between the parser's tables
#    (remusd/config.c), remus.conf.5 and docs/config.md.
. "$(dirname "$0")/cli_lib.sh"
export LC_ALL=C.UTF-8 MANWIDTH=80

command -v man >/dev/null || { echo "SKIP: man (man-db) is not installed"; exit 77; }
make -s --no-print-directory BUILD="$BUILD" $(mk MAN_PAGES) >/dev/null

# same SET_A SET_B WHAT: two files of lines hold the same set
same() {
	sort -u "$1" >"$1.s"
	sort -u "$2" >"$2.s"
	local only
	only=$(comm -23 "$1.s" "$2.s" | tr '\n' ' ')
	[ -z "$only" ] || fail "$3: only in the first: $only"
	only=$(comm -13 "$1.s" "$2.s" | tr '\n' ' ')
	[ -z "$only" ] || fail "$3: only in the second: $only"
	[ -s "$1.s" ] || fail "$3: empty"
}

npages=0
for page in $(mk MAN_PAGES); do
	npages=$((npages + 1))
	[ -s "$page" ] || { fail "$page not built"; continue; }
	man --warnings -l "$page" >"$tmp/render" 2>"$tmp/warn" || fail "$page: man exited $?"
	[ ! -s "$tmp/warn" ] || fail "$page: man warns: $(head -c 300 "$tmp/warn")"
	grep -q "remus $(mk REMUS_VERSION)" "$tmp/render" || fail "$page: no version in the footer"
done

# Options at the start of a --help line ("  -c, --config FILE", "  --json").
help_options() {
	grep -oE '^ +(-[A-Za-z], )?--?[A-Za-z][A-Za-z0-9-]*' "$1" | tr -d ' ' | tr ',' '\n' | grep . || true
}
# Options a page defines: its definition lines ("*-c*, *--config* _FILE_").
page_options() {
	grep -E '^\*--?[A-Za-z]' "$1" | grep -oE '\*--?[A-Za-z][A-Za-z0-9-]*\*' | tr -d '*' || true
}

for p in $(mk PROGRAMS); do
	scd=$(ls docs/man/"$p".[1-8].scd 2>/dev/null || true)
	[ -n "$scd" ] || { fail "program $p has no man page (docs/man/$p.N.scd)"; continue; }
	"$BUILD/bin/$p" --help >"$tmp/help" 2>/dev/null || fail "$p --help failed"
	help_options "$tmp/help" >"$tmp/h.$p"
	page_options "$scd" >"$tmp/m.$p"
	same "$tmp/h.$p" "$tmp/m.$p" "$p: options of --help vs $scd"
done

# remusctl: commands in --help, in remusctl.8 (COMMANDS items), in
# docs/remusctl.md (its synopsis lines).
"$BUILD/bin/remusctl" --help >"$tmp/ctl.help"
sed -n '/^commands:/,/^options:/p' "$tmp/ctl.help" | sed '1d;$d' | awk '{print $1}' >"$tmp/cmd.help"
sed -n '/^# COMMANDS/,/^# OPTIONS/p' docs/man/remusctl.8.scd |
	grep -oE '^\*[a-z]+\*' | tr -d '*' >"$tmp/cmd.man"
grep -oE 'remusctl \[-s SOCKET\] [a-z]+' docs/remusctl.md | awk '{print $NF}' >"$tmp/cmd.md"
same "$tmp/cmd.help" "$tmp/cmd.man" "remusctl commands: --help vs remusctl.8"
same "$tmp/cmd.help" "$tmp/cmd.md" "remusctl commands: --help vs docs/remusctl.md"
help_options "$tmp/ctl.help" | grep -- '^--' >"$tmp/opt.help"
grep -oE -- '--[a-z][a-z-]*' docs/remusctl.md >"$tmp/opt.md"
same "$tmp/opt.help" "$tmp/opt.md" "remusctl long options: --help vs docs/remusctl.md"

# remus.conf: keys the parser knows, remus.conf.5's key items, the key
# tables of docs/config.md's [global] and [guest NAME] sections.
grep -oE '\{ *"[a-z_]+", *CONF_' remusd/config.c | sed -E 's/.*"(.*)".*/\1/' >"$tmp/key.code"
grep -oE '^\*[a-z_]+\* =' docs/man/remus.conf.5.scd | tr -d '*= ' >"$tmp/key.man"
sed -n '/^### \[global\]/,/^### Rules/p' docs/config.md |
	grep -oE '^\| [a-z_]+ \|' | tr -d '| ' | grep -vx key >"$tmp/key.md"
same "$tmp/key.code" "$tmp/key.man" "remus.conf keys: remusd/config.c vs remus.conf.5"
same "$tmp/key.code" "$tmp/key.md" "remus.conf keys: remusd/config.c vs docs/config.md"

[ "$fails" = 0 ] || { echo "man_pages: $fails failure(s)"; exit 1; }
echo "man_pages: $npages pages without man warnings; options, remusctl commands and $(sort -u "$tmp/key.code" | wc -l) config keys agree with --help, the parser and docs/"
