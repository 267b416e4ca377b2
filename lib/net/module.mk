# lib/net: the replication transport (rnet_*): handshake, auth, TLS, frames.
LIB_SRCS += lib/net/key.c lib/net/frame.c lib/net/hello.c lib/net/io_plain.c \
	lib/net/io_tls.c lib/net/handshake.c lib/net/socket.c lib/net/conn.c lib/net/conn_send.c \
	lib/net/keepalive.c lib/net/hs_limit.c lib/net/compress.c
DEPS_PKGS += libzstd-dev
UNIT_TESTS += test_net test_net_live
test_net_SRCS := tests/unit/test_net.c tests/unit/test_net_util.c
test_net_live_SRCS := tests/unit/test_net_live.c tests/unit/test_net_util.c
UNIT_TESTS += test_net_hs
test_net_hs_SRCS := tests/unit/test_net_hs.c tests/unit/test_net_util.c
UNIT_TESTS += test_net_key
test_net_key_SRCS := tests/unit/test_net_key.c tests/unit/test_net_util.c
UNIT_TESTS += test_net_compress
test_net_compress_SRCS := tests/unit/test_net_compress.c tests/unit/test_net_util.c
FUZZ_TARGETS += net_frame net_hello
net_frame_SRCS := tests/fuzz/net_frame.c
net_frame_SMOKE := 15
net_frame_CORPUS := tests/fuzz/corpus/net_frame
net_hello_SRCS := tests/fuzz/net_hello.c
net_hello_SMOKE := 10
net_hello_CORPUS := tests/fuzz/corpus/net_hello
FUZZ_TARGETS += net_zstd
net_zstd_SRCS := tests/fuzz/net_zstd.c
net_zstd_SMOKE := 10
net_zstd_CORPUS := tests/fuzz/corpus/net_zstd
BENCHES += net_bench
net_bench_SRCS := bench/net_bench.c
FUZZ_TARGETS += net_handshake
net_handshake_SRCS := tests/fuzz/net_handshake.c
net_handshake_SMOKE := 10
net_handshake_CORPUS := tests/fuzz/corpus/net_handshake
# An unauthenticated flood of the replication port vs. an authenticated primary.
INTEG_TESTS += tests/integration/remusd_hs_flood.sh
FUZZ_TARGETS += net_key
net_key_SRCS := tests/fuzz/net_key.c
net_key_SMOKE := 10
net_key_CORPUS := tests/fuzz/corpus/net_key
