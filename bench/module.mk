# bench: most programs live with their modules (BENCHES there); this folder
# holds what turns their rows into bench/results/latest.json and
# docs/performance.md with plots (bench/run.sh, collect.py, report.py), and
# the benches of the whole system: the guest compute slowdown under
# protection (compute_bench), failover time and the client-visible gap
# (failover.sh), many guests on one daemon pair (many_guests.sh), the
# pause of remusctl evacuate against QEMU's migration downtime
# (evacuate.sh), the guest pause of remusctl upgrade (upgrade.sh).
DEPS_PKGS += gnuplot-nox
INTEG_TESTS += tests/integration/bench_results.sh
BENCHES += compute_bench
compute_bench_SRCS := bench/compute.c
# failover.sh's client (the fault trials' UDP probe) is built by `make`
ALL_EXTRA += $(BUILD)/tests/udp-probe
# evacuate.sh's QEMU guest: a boot sector (flat binary, 512 bytes)
$(BUILD)/bench/qemu-dirtier.img: bench/qemu_dirtier.s
	@mkdir -p $(@D)
	as --32 -o $(BUILD)/bench/qemu_dirtier.o $<
	ld -m elf_i386 -Ttext=0x7c00 --oformat=binary -o $@ $(BUILD)/bench/qemu_dirtier.o
ALL_EXTRA += $(BUILD)/bench/qemu-dirtier.img
# evacuate.sh compares remusctl evacuate with QEMU's live migration
DEPS_PKGS += qemu-system-x86
