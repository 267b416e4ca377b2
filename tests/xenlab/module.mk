# tests/xenlab: real Xen 4.17 under QEMU TCG (see docs/xenlab.md).
# Not part of `make check`: `make xenlab` builds the lab (and installs the host
# tools it needs), `make xenlab-check` boots it and runs the scenarios.
XENLAB_PKGS := qemu-system-x86 cpio debootstrap e2fsprogs kmod python3
XENLAB_TIMEOUT ?= 840

.PHONY: xenlab xenlab-check
xenlab: all
	@scripts/deps.sh $(XENLAB_PKGS)
	@BUILD=$(BUILD) tests/xenlab/build.sh

xenlab-check: xenlab
	@BUILD=$(BUILD) XENLAB_TIMEOUT=$(XENLAB_TIMEOUT) tests/xenlab/run.sh
