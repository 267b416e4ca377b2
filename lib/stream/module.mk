# lib/stream: the Xen migration stream v2 codec (writer, reader, assembler).
LIB_SRCS += lib/stream/buf.c lib/stream/writer.c lib/stream/reader.c \
	lib/stream/records.c lib/stream/xenstore.c

UNIT_TESTS += test_stream
test_stream_SRCS := tests/unit/test_stream.c tests/unit/stream_sample.c
