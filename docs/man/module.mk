# docs/man: the man pages, written in scdoc, built into $(BUILD)/man by
# `make` and installed into share/man/manN by `make install`.  The version
# in their footer is the Makefile's REMUS_VERSION.
MAN_SRCS := $(wildcard docs/man/*.scd)
MAN_PAGES := $(patsubst docs/man/%.scd,$(BUILD)/man/%,$(MAN_SRCS))
DEPS_PKGS += scdoc man-db groff-base
ALL_EXTRA += $(MAN_PAGES)
INTEG_TESTS += tests/integration/man_pages.sh

$(BUILD)/man/%: docs/man/%.scd Makefile
	@mkdir -p $(@D)
	sed 's/@VERSION@/$(REMUS_VERSION)/g' $< | scdoc > $@
