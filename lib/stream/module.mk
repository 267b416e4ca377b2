# lib/stream: the Xen migration stream v2 codec (writer, reader, assembler).
LIB_SRCS += lib/stream/buf.c lib/stream/writer.c lib/stream/reader.c \
	lib/stream/records.c lib/stream/xenstore.c lib/stream/assembler.c

UNIT_TESTS += test_stream
test_stream_SRCS := tests/unit/test_stream.c tests/unit/stream_sample.c
UNIT_TESTS += test_stream_errors
test_stream_errors_SRCS := tests/unit/test_stream_errors.c tests/unit/stream_sample.c
UNIT_TESTS += test_stream_asm
test_stream_asm_SRCS := tests/unit/test_stream_asm.c tests/unit/stream_sample.c
