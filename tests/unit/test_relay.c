/* The one-way relay with a silence watchdog (lib/util/relay.c): every byte
 * passed on in order, the end of input, silence, a stop request and a
 * reader that went away each end it with their own reason; time spent
 * blocked on the reader never counts as the sender's silence. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/relay.h"

#define PAYLOAD (1u << 20)

struct side {
	int in[2], out[2];
	uint8_t *sent, *got;
	size_t got_len;
	pthread_t reader;
	bool joined;
	bool close_after;           /* the writer closes the input when done */
};

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 12));
}

/* Drain the relay's output until it is closed. */
static void *read_all(void *arg)
{
	struct side *s = arg;
	ssize_t n;

	while ((n = read(s->out[0], s->got + s->got_len, PAYLOAD * 2 - s->got_len)) > 0)
		s->got_len += (size_t)n;
	return NULL;
}

/* Write the whole payload on a thread (the input pipe is smaller). */
static void *write_all(void *arg)
{
	struct side *s = arg;
	size_t off = 0;
	ssize_t n;

	while (off < PAYLOAD && (n = write(s->in[1], s->sent + off, PAYLOAD - off)) > 0)
		off += (size_t)n;
	if (s->close_after) {
		close(s->in[1]);
		s->in[1] = -1;
	}
	return NULL;
}

static void side_open(struct side *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(pipe2(s->in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(s->out, O_CLOEXEC), 0);
	s->sent = malloc(PAYLOAD);
	s->got = malloc(PAYLOAD * 2);
	fill(s->sent, PAYLOAD);
	assert_int_equal(pthread_create(&s->reader, NULL, read_all, s), 0);
}

/* The relay is done: end its output, collect what the reader got. */
static void side_collect(struct side *s)
{
	if (s->joined)
		return;
	close(s->out[1]);
	pthread_join(s->reader, NULL);
	s->joined = true;
}

/* Every byte the sender wrote arrived, in order. */
static void assert_all_passed(struct side *s)
{
	side_collect(s);
	assert_int_equal(s->got_len, PAYLOAD);
	assert_memory_equal(s->got, s->sent, PAYLOAD);
}

static void side_close(struct side *s)
{
	side_collect(s);
	close(s->out[0]);
	close(s->in[0]);
	if (s->in[1] >= 0)
		close(s->in[1]);
	free(s->sent);
	free(s->got);
}

static void test_relay_until_eof(void **state)
{
	struct side s;
	struct relay_result res;
	pthread_t w;

	(void)state;
	side_open(&s);
	s.close_after = true;
	assert_int_equal(pthread_create(&w, NULL, write_all, &s), 0);
	struct relay_cfg cfg = { .in_fd = s.in[0], .out_fd = s.out[1], .stop_fd = -1,
		.silence_ms = 3600000 };
	assert_int_equal(relay_run(&cfg, &res), RELAY_EOF);
	pthread_join(w, NULL);
	assert_int_equal(res.end, RELAY_EOF);
	assert_int_equal(res.bytes, PAYLOAD);
	assert_all_passed(&s);
	side_close(&s);
}

/* The sender writes part of the stream and hangs with the pipe open. */
static void test_relay_silence(void **state)
{
	struct side s;
	struct relay_result res;
	pthread_t w;

	(void)state;
	side_open(&s);
	assert_int_equal(pthread_create(&w, NULL, write_all, &s), 0);
	struct relay_cfg cfg = { .in_fd = s.in[0], .out_fd = s.out[1], .stop_fd = -1,
		.silence_ms = 30 };
	assert_int_equal(relay_run(&cfg, &res), RELAY_SILENCE);
	pthread_join(w, NULL);
	assert_int_equal(res.bytes, PAYLOAD);
	assert_true(res.end_us >= res.last_in_us + 30000);
	assert_all_passed(&s);
	side_close(&s);
}

static uint64_t fake_now;

/* A clock that jumps an hour at every look: any silence measured while
 * the relay is not waiting for input would end the stream at once. */
static uint64_t jumping_clock(void)
{
	return fake_now += 3600ull * 1000000u;
}

static void test_relay_backpressure_is_not_silence(void **state)
{
	struct side s;
	struct relay_result res;

	(void)state;
	side_open(&s);
	/* the whole stream waits in the input before the relay starts, and
	 * the reader is slow: the relay blocks on its output most of the time */
	if (fcntl(s.in[0], F_SETPIPE_SZ, PAYLOAD) < (int)PAYLOAD)
		skip();
	assert_true(fcntl(s.out[1], F_SETPIPE_SZ, 4096) >= 4096);
	s.close_after = true;
	write_all(&s);
	struct relay_cfg cfg = { .in_fd = s.in[0], .out_fd = s.out[1], .stop_fd = -1,
		.silence_ms = 1000, .clock_us = jumping_clock };
	fake_now = 0;
	assert_int_equal(relay_run(&cfg, &res), RELAY_EOF);
	assert_int_equal(res.bytes, PAYLOAD);
	assert_all_passed(&s);
	side_close(&s);
}

static void test_relay_stop_and_reader_gone(void **state)
{
	struct side s;
	struct relay_result res;
	int stop[2];

	(void)state;
	side_open(&s);
	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	assert_int_equal(write(stop[1], "q", 1), 1);
	struct relay_cfg cfg = { .in_fd = s.in[0], .out_fd = s.out[1], .stop_fd = stop[0] };
	assert_int_equal(relay_run(&cfg, &res), RELAY_STOPPED);
	assert_int_equal(res.bytes, 0);
	close(stop[0]);
	close(stop[1]);
	side_close(&s);

	/* the reader closed its end: the relay says so instead of failing */
	int in[2], out[2];

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	close(out[0]);
	assert_int_equal(write(in[1], "abc", 3), 3);
	cfg = (struct relay_cfg){ .in_fd = in[0], .out_fd = out[1], .stop_fd = -1 };
	assert_int_equal(relay_run(&cfg, &res), RELAY_OUT_CLOSED);
	assert_string_equal(relay_end_name(res.end), "reader gone");
	close(in[0]);
	close(in[1]);
	close(out[1]);
	/* a closed input is an error with a message */
	cfg.in_fd = in[0];
	assert_true(relay_run(&cfg, &res) < 0);
	assert_int_equal(res.end, RELAY_ERROR);
	assert_non_null(strstr(res.err.msg, "input is not open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_until_eof),
		cmocka_unit_test(test_relay_silence),
		cmocka_unit_test(test_relay_backpressure_is_not_silence),
		cmocka_unit_test(test_relay_stop_and_reader_gone),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
