#!/bin/bash
# The pvm guest images are what the monitor can load: static EXEC ELFs
# entered at the RAM base, every PT_LOAD inside guest RAM, no interpreter,
# no dynamic section, no undefined symbols.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
base=$((0x40000000))
limit=$((base + (1 << 30)))
rc=0
for elf in "$BUILD"/guest/{counter,dirtier,kvstore,httpd,compute}.elf; do
	[ -f "$elf" ] || { echo "FAIL: $elf missing"; rc=1; continue; }
	hdr=$(readelf -hW "$elf")
	grep -q "Type:.*EXEC" <<<"$hdr" || { echo "FAIL: $elf is not EXEC"; rc=1; }
	entry=$(awk '/Entry point/ {print $4}' <<<"$hdr")
	[ $((entry)) -eq $base ] || { echo "FAIL: $elf entry $entry"; rc=1; }
	phdrs=$(readelf -lW "$elf")
	grep -qE "INTERP|DYNAMIC" <<<"$phdrs" && { echo "FAIL: $elf is dynamic"; rc=1; }
	while read -r _ _ vaddr _ _ memsz _; do
		if [ $((vaddr)) -lt $base ] || [ $((vaddr + memsz)) -gt $limit ]; then
			echo "FAIL: $elf segment $vaddr+$memsz outside RAM"; rc=1
		fi
	done < <(grep -E "^ +LOAD" <<<"$phdrs")
	undef=$(nm -u "$elf")
	[ -z "$undef" ] || { echo "FAIL: $elf has undefined symbols: $undef"; rc=1; }
	[ $rc -eq 0 ] && echo "ok $elf: entry $entry, $(grep -cE '^ +LOAD' <<<"$phdrs") segments"
done
exit $rc
