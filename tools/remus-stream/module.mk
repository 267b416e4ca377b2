# tools/remus-stream: dump and check Xen migration v2 streams.
PROGRAMS += remus-stream
remus-stream_SRCS := tools/remus-stream/main.c tools/remus-stream/summary.c
INTEG_TESTS += tests/integration/stream_tool.sh
