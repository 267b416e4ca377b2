/* The metrics endpoint's HTTP side and registry: see metrics.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "remusd/metrics.h"
#include "util/log.h"

#define METRICS_MAX_CLIENTS  8u     /* scrapers at once; more wait in the backlog */
#define METRICS_TIMEOUT_S    10u    /* an idle or slow client is dropped */
#define METRICS_CTYPE        "text/plain; version=0.0.4; charset=utf-8"

struct remusd_metrics {
	struct MHD_Daemon *mhd;
	pthread_mutex_t lock;                        /* guards sessions, n */
	struct remusd_session *sessions[REMUSD_MAX_GUESTS];
	size_t n;
	uint64_t events[REMUSD_M_EVENTS];            /* atomic */
	char where[REMUSD_HOST_MAX + 8];
};

void remusd_metrics_add_session(struct remusd_metrics *m, struct remusd_session *s)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->n < REMUSD_MAX_GUESTS)
		m->sessions[m->n++] = s;
	pthread_mutex_unlock(&m->lock);
}

void remusd_metrics_count(struct remusd_metrics *m, enum remusd_metric_event ev)
{
	if (m != NULL && (unsigned)ev < REMUSD_M_EVENTS)
		__atomic_add_fetch(&m->events[ev], 1, __ATOMIC_RELAXED);
}

/* A fixed reply (errors: wrong path or method). */
static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned code, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	                                                         MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return rc;
}

/* GET /metrics: render a copy of every session's counters. */
static enum MHD_Result answer_metrics(struct remusd_metrics *m, struct MHD_Connection *conn)
{
	struct remusd_session *list[REMUSD_MAX_GUESTS];
	uint64_t ev[REMUSD_M_EVENTS];
	struct MHD_Response *r;
	enum MHD_Result rc;
	char *text = NULL;
	size_t len = 0, n;
	FILE *f;

	pthread_mutex_lock(&m->lock);
	n = m->n;
	memcpy(list, m->sessions, n * sizeof(list[0]));
	pthread_mutex_unlock(&m->lock);
	for (unsigned i = 0; i < REMUSD_M_EVENTS; i++)
		ev[i] = __atomic_load_n(&m->events[i], __ATOMIC_RELAXED);
	if ((f = open_memstream(&text, &len)) == NULL)
		return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	if (remusd_metrics_render(f, list, n, ev) < 0 || fclose(f) != 0) {
		free(text);
		return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render\n");
	}
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CTYPE);
	rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* libmicrohttpd's request callback; a request body is never accepted. */
static enum MHD_Result on_request(void *arg, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **state)
{
	static int first;

	(void)version;
	(void)upload_data;
	if (*state == NULL) {          /* headers only: answer on the next call */
		*state = &first;
		return MHD_YES;
	}
	if (*upload_size != 0)
		return MHD_NO;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n");
	if (strcmp(url, "/metrics") != 0)
		return answer_text(conn, MHD_HTTP_NOT_FOUND, "remusd serves /metrics only\n");
	return answer_metrics(arg, conn);
}

/* libmicrohttpd's own complaints (bind, accept, a broken client) go to
 * our log. */
static void on_mhd_log(void *arg, const char *fmt, va_list ap)
{
	struct remusd_metrics *m = arg;
	char msg[256];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = 0;
	log_warnx("metrics %s: %s", m->where, msg);
}

int remusd_metrics_start(const struct remusd_conf *conf, struct remusd_metrics **out,
                         struct remus_err *err)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	struct remusd_metrics *m;

	*out = NULL;
	if (conf->metrics_port == 0)
		return 0;
	if (inet_pton(AF_INET, conf->metrics_host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(conf->metrics_port);
	} else if (inet_pton(AF_INET6, conf->metrics_host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(conf->metrics_port);
		flags |= MHD_USE_IPv6;
	} else {
		return remus_err_set(err, -EINVAL, "metrics_listen: '%s' is not a numeric address",
		                     conf->metrics_host);
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return remus_err_sys(err, ENOMEM, "metrics");
	pthread_mutex_init(&m->lock, NULL);
	snprintf(m->where, sizeof(m->where), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	         conf->metrics_host, conf->metrics_port);
	m->mhd = MHD_start_daemon(flags, conf->metrics_port, NULL, NULL, on_request, m,
	                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	                          MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CLIENTS,
	                          MHD_OPTION_CONNECTION_TIMEOUT, METRICS_TIMEOUT_S,
	                          MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m,
	                          MHD_OPTION_END);
	if (m->mhd == NULL) {
		remus_err_set(err, -EADDRNOTAVAIL, "metrics_listen %s: cannot serve HTTP there "
		              "(address in use or not on this host)", m->where);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return -EADDRNOTAVAIL;
	}
	log_info("metrics: http://%s/metrics", m->where);
	*out = m;
	return 0;
}

void remusd_metrics_stop(struct remusd_metrics *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->mhd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
