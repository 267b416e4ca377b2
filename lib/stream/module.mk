# lib/stream: the Xen migration stream v2 codec (writer, reader, assembler).
LIB_SRCS += lib/stream/buf.c lib/stream/writer.c lib/stream/reader.c \
	lib/stream/records.c lib/stream/xenstore.c lib/stream/assembler.c \
	lib/stream/gate.c lib/stream/xlheader.c

UNIT_TESTS += test_stream
test_stream_SRCS := tests/unit/test_stream.c tests/unit/stream_sample.c
UNIT_TESTS += test_stream_errors
test_stream_errors_SRCS := tests/unit/test_stream_errors.c tests/unit/stream_sample.c
UNIT_TESTS += test_stream_asm
test_stream_asm_SRCS := tests/unit/test_stream_asm.c tests/unit/stream_sample.c
UNIT_TESTS += test_stream_xen test_stream_gate test_stream_xlhdr
test_stream_xlhdr_SRCS := tests/unit/test_stream_xlhdr.c
test_stream_gate_SRCS := tests/unit/test_stream_gate.c tests/unit/stream_sample.c
test_stream_xen_SRCS := tests/unit/test_stream_xen.c tests/unit/stream_sample.c

# Xen's verify-stream-v2 (xen-utils-4.17), unpacked into the build tree once.
XEN_VERIFY_DIR := $(BUILD)/tools/xen-utils-4.17
$(XEN_VERIFY_DIR)/.stamp:
	@tools/remus-stream/fetch-xen-verify.sh $(XEN_VERIFY_DIR)
CHECK_PREREQS += $(XEN_VERIFY_DIR)/.stamp

FUZZ_TARGETS += stream_reader
stream_reader_SRCS := tests/fuzz/stream_reader.c
stream_reader_SMOKE := 60
stream_reader_CORPUS := tests/fuzz/corpus/stream_reader

# The checkpoint gate (bytes from the primary, forwarded to libxl): hostile input.
FUZZ_TARGETS += stream_gate
stream_gate_SRCS := tests/fuzz/stream_gate.c
stream_gate_SMOKE := 10
stream_gate_CORPUS := tests/fuzz/corpus/stream_gate

BENCHES += stream
stream_SRCS := bench/stream.c
