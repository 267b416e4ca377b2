/*
 * remus-stream: print and validate Xen migration v2 streams.
 *
 *   remus-stream dump  [--json] [options] FILE|-
 *   remus-stream check [options] FILE|-
 *
 * Reads an `xl save` file, a bare libxl stream or a bare libxc stream
 * (detected), plain or checkpointed (Remus).  Exit status: 0 valid, 1
 * invalid (the first error is printed), 2 usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "stream/stream.h"
#include "tools/remus-stream/remus-stream.h"
#include "util/version.h"

#define EXIT_INVALID 1
#define EXIT_USAGE   2

struct opts {
	bool dump, json, flat, xen_only;
	size_t max_body;
	const char *path;
};

/* What the walk over a stream found. */
struct result {
	uint64_t records;
	bool xl_file, bare_libxc, checkpointed;
	int eof;                    /* stream_reader_eof() or the first error */
	char err[REMUS_ERR_MSG_MAX];
};

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: remus-stream dump [--json] [options] FILE|-\n"
	    "       remus-stream check [options] FILE|-\n"
	    "Print (dump) or validate (check) a Xen migration v2 stream: an `xl save`\n"
	    "file, a libxl stream or a libxc stream, plain or checkpointed (Remus).\n"
	    "options:\n"
	    "  --json              dump: one JSON document instead of text lines\n"
	    "  --flat-checkpoints  libxc CHECKPOINT records do not switch to libxl records\n"
	    "                      (the layout Xen's verify-stream-v2 reads)\n"
	    "  --xen-only          reject remus extension records (REMUS_XENSTORE)\n"
	    "  --max-body BYTES    largest record body accepted (default 64 MiB)\n"
	    "  -h, --help          this help\n"
	    "  -V, --version       print the version\n"
	    "exit status: 0 valid, 1 invalid, 2 usage or I/O error\n");
}

static const char *layer_of(const struct stream_rec *r)
{
	switch (r->item) {
	case STREAM_ITEM_XL_HEADER:
		return "xl";
	case STREAM_ITEM_LIBXL_HEADER:
	case STREAM_ITEM_LIBXL_RECORD:
		return "libxl";
	default:
		return "libxc";
	}
}

static const char *type_of(const struct stream_rec *r)
{
	switch (r->item) {
	case STREAM_ITEM_XL_HEADER:
	case STREAM_ITEM_LIBXL_HEADER:
		return "HEADER";
	case STREAM_ITEM_LIBXC_IMAGE_HEADER:
		return "IMAGE_HEADER";
	case STREAM_ITEM_LIBXC_DOMAIN_HEADER:
		return "DOMAIN_HEADER";
	default:
		return stream_item_name(r);
	}
}

static void print_text(const struct stream_reader *rd, const struct stream_rec *r)
{
	char sum[512];

	rs_summary(rd, r, sum, sizeof(sum));
	printf("%10" PRIu64 "  %-5s  %-24s %10" PRIu32 "  %s\n", r->offset, layer_of(r),
	    type_of(r), r->length, sum);
}

static void add_json(json_object *arr, const struct stream_reader *rd, const struct stream_rec *r)
{
	json_object *o = json_object_new_object();
	char sum[512];

	rs_summary(rd, r, sum, sizeof(sum));
	json_object_object_add(o, "offset", json_object_new_int64((int64_t)r->offset));
	json_object_object_add(o, "layer", json_object_new_string(layer_of(r)));
	json_object_object_add(o, "type", json_object_new_string(type_of(r)));
	if (r->item == STREAM_ITEM_LIBXL_RECORD || r->item == STREAM_ITEM_LIBXC_RECORD)
		json_object_object_add(o, "type_id", json_object_new_int64(r->type));
	json_object_object_add(o, "length", json_object_new_int64(r->length));
	json_object_object_add(o, "checkpoint", json_object_new_int64((int64_t)r->checkpoint));
	json_object_object_add(o, "summary", json_object_new_string(sum));
	json_object_array_add(arr, o);
}

/*
 * Read the whole input through a reader; print items when dumping.
 * Returns the number of complete checkpoints, or -1 on an I/O error.
 */
static int walk(int fd, const struct opts *o, struct result *res, json_object *arr)
{
	struct stream_reader_cfg cfg = {
		.lim.max_body = o->max_body,
		.flat_checkpoints = o->flat,
		.remus_xenstore = !o->xen_only,
	};
	struct stream_reader rd;
	static uint8_t buf[1 << 16];
	int rc = 0, ckpts;

	stream_reader_init(&rd, &cfg);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		const uint8_t *p = buf;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "remus-stream: read %s: %s\n", o->path, strerror(errno));
			stream_reader_free(&rd);
			return -1;
		}
		if (n == 0)
			break;
		while (n > 0) {
			struct stream_rec rec;
			size_t used;
			rc = stream_reader_feed(&rd, p, (size_t)n, &used, &rec);
			p += used;
			n -= (ssize_t)used;
			if (rc < 0)
				goto done;
			if (rc == 1) {
				res->records++;
				if (rec.item == STREAM_ITEM_LIBXC_RECORD && rec.type == STREAM_XC_CHECKPOINT)
					res->checkpointed = true;
				if (o->dump && arr)
					add_json(arr, &rd, &rec);
				else if (o->dump)
					print_text(&rd, &rec);
			}
		}
	}
	rc = stream_reader_eof(&rd);
done:
	res->eof = rc;
	res->xl_file = rd.xl_file;
	res->bare_libxc = rd.bare_libxc;
	res->checkpointed |= rd.checkpoints > 0;
	res->records = rd.records;
	snprintf(res->err, sizeof(res->err), "%s", rd.err.msg);
	ckpts = rd.checkpoints > INT32_MAX ? INT32_MAX : (int)rd.checkpoints;
	stream_reader_free(&rd);
	return ckpts;
}

static const char *kind_of(const struct result *r)
{
	if (r->xl_file)
		return "xl save file";
	return r->bare_libxc ? "libxc stream" : "libxl stream";
}

/* The one-line verdict. */
static void verdict(const struct result *r, int ckpts, char *s, size_t n)
{
	if (r->eof < 0)
		snprintf(s, n, "invalid: %s", r->err);
	else if (r->eof == STREAM_EOF_CHECKPOINT)
		snprintf(s, n, "valid: checkpointed %s, %d complete checkpoint%s, ends after "
		    "CHECKPOINT_END (failover point), %" PRIu64 " items", kind_of(r), ckpts,
		    ckpts == 1 ? "" : "s", r->records);
	else if (r->checkpointed)
		snprintf(s, n, "valid: checkpointed %s, %d complete checkpoint%s, clean END, %"
		    PRIu64 " items", kind_of(r), ckpts, ckpts == 1 ? "" : "s", r->records);
	else
		snprintf(s, n, "valid: plain %s, END, %" PRIu64 " items", kind_of(r), r->records);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "flat-checkpoints", no_argument, NULL, 'f' },
		{ "xen-only", no_argument, NULL, 'x' },
		{ "max-body", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	if (argc < 2)
		return -1;
	if (strcmp(argv[1], "dump") == 0)
		o->dump = true;
	else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		exit(0);
	} else if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		remus_print_version("remus-stream");
		exit(0);
	} else if (strcmp(argv[1], "check") != 0)
		return -1;
	optind = 2;
	while ((c = getopt_long(argc, argv, "hV", lo, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = true; break;
		case 'f': o->flat = true; break;
		case 'x': o->xen_only = true; break;
		case 'm': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 0);
			if (errno || *end || v == 0 || v > SIZE_MAX)
				return -1;
			o->max_body = (size_t)v;
			break;
		}
		case 'h': usage(stdout); exit(0);
		case 'V': remus_print_version("remus-stream"); exit(0);
		default: return -1;
		}
	}
	if (o->json && !o->dump)
		return -1;
	if (optind != argc - 1)
		return -1;
	o->path = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct result res = { 0 };
	json_object *doc = NULL, *arr = NULL;
	char line[REMUS_ERR_MSG_MAX + 128];
	int fd, ckpts;

	if (parse(argc, argv, &o) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(o.path, "-") == 0) {
		fd = STDIN_FILENO;
	} else if ((fd = open(o.path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "remus-stream: open %s: %s\n", o.path, strerror(errno));
		return EXIT_USAGE;
	}
	if (o.json) {
		doc = json_object_new_object();
		arr = json_object_new_array();
	}
	ckpts = walk(fd, &o, &res, arr);
	if (fd != STDIN_FILENO)
		close(fd);
	if (ckpts < 0) {
		json_object_put(doc);
		json_object_put(arr);
		return EXIT_USAGE;
	}
	verdict(&res, ckpts, line, sizeof(line));
	if (o.json) {
		json_object_object_add(doc, "file", json_object_new_string(o.path));
		json_object_object_add(doc, "format", json_object_new_string(kind_of(&res)));
		json_object_object_add(doc, "records", arr);
		json_object_object_add(doc, "valid", json_object_new_boolean(res.eof >= 0));
		json_object_object_add(doc, "checkpointed", json_object_new_boolean(res.checkpointed));
		json_object_object_add(doc, "checkpoints", json_object_new_int64(ckpts));
		json_object_object_add(doc, "end", json_object_new_string(res.eof < 0 ? "error" :
		    res.eof == STREAM_EOF_CHECKPOINT ? "checkpoint" : "end"));
		if (res.eof < 0) {
			json_object *e = json_object_new_object();
			json_object_object_add(e, "code", json_object_new_int64(res.eof));
			json_object_object_add(e, "name", json_object_new_string(stream_strerror(res.eof)));
			json_object_object_add(e, "message", json_object_new_string(res.err));
			json_object_object_add(doc, "error", e);
		}
		json_object_object_add(doc, "verdict", json_object_new_string(line));
		printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
	} else {
		printf("%s: %s\n", o.path, line);
	}
	return res.eof < 0 ? EXIT_INVALID : 0;
}
