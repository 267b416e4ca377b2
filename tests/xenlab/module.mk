# tests/xenlab: real Xen 4.17 under QEMU TCG (see docs/xenlab.md).
# Not part of `make check`: `make xenlab` builds the lab (and installs the host
# tools it needs), `make xenlab-check` boots it and runs the scenarios.
XENLAB_PKGS := qemu-system-x86 cpio debootstrap e2fsprogs kmod python3
XENLAB_TIMEOUT ?= 1140

.PHONY: xenlab xenlab-check
xenlab: all
	@scripts/deps.sh $(XENLAB_PKGS)
	@BUILD=$(BUILD) tests/xenlab/build.sh

# report.sh judges the captured streams with Xen's verify-stream-v2 too.
xenlab-check: xenlab $(XEN_VERIFY_DIR)/.stamp
	@BUILD=$(BUILD) XENLAB_TIMEOUT=$(XENLAB_TIMEOUT) tests/xenlab/run.sh

# Lab-only helpers shipped in the dom0 image (scenario 50): the netbuf test
# helpers and the drbd backend driver for a real DRBD pair.
XENLAB_DRBD_LAB := $(BUILD)/tests/xenlab/drbd-lab
$(XENLAB_DRBD_LAB): $(BUILD)/obj/tests/xenlab/drbd_lab.o $(BUILD)/lib/libremus.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_ALL)
# remus's NBD server for the kernel's NBD client (scenario 50)
XENLAB_NBD_LAB := $(BUILD)/tests/xenlab/nbd-lab
$(XENLAB_NBD_LAB): $(BUILD)/obj/tests/xenlab/nbd_lab.o $(BUILD)/lib/libremus.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_ALL)
XENLAB_HELPERS := $(NETBUF_HELPERS) $(XENLAB_DRBD_LAB) $(XENLAB_NBD_LAB)
xenlab: $(XENLAB_HELPERS)
