/* Internal to the remus.conf parser: parse state and the key tables. */
#ifndef REMUS_REMUSD_CONFIG_IMPL_H
#define REMUS_REMUSD_CONFIG_IMPL_H

#include "remusd/config.h"

#define CONF_MAX_KEYS 24

struct conf_word {
	const char *word;
	uint32_t value;
};

enum conf_kind {
	CONF_STR, CONF_IDENT, CONF_U32, CONF_MEM, CONF_ENUM, CONF_BOOL,
	CONF_MAC, CONF_IP, CONF_HOSTPORT, CONF_UNSAFE,
};

struct conf_parse;
struct conf_key;
typedef int (*conf_setter)(struct conf_parse *ps, const struct conf_key *k, void *base,
			   const char *v);

struct conf_key {
	const char *name;
	enum conf_kind kind;
	conf_setter set;
	size_t off, size;               /* field in the section's struct */
	uint32_t min, max;              /* numbers */
	const char *unit;               /* for range messages */
	const struct conf_word *words;  /* enums */
};

/* Where we are: the text, the line the reader last returned, the current
 * section and which keys it already set (for duplicates). */
struct conf_parse {
	const char *name;
	const char *text, *pos, *end;
	unsigned line;
	struct remusd_conf *conf;
	const struct conf_key *keys;     /* current section's table, NULL outside */
	void *base;                      /* current section's struct */
	char section[REMUSD_NAME_MAX + 8];
	unsigned key_line[CONF_MAX_KEYS];
	unsigned global_line;
	struct remus_err *err;
	unsigned err_line;               /* 0 until the first error */
};

int conf_err(struct conf_parse *ps, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool conf_ident_char(char c);

int conf_set_str(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_ident(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_u32(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_enum(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_bool(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_mac(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_ip(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_hostport(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_metrics(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_unsafe(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_drbd_res(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);
int conf_set_nbd_dev(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v);

#endif
