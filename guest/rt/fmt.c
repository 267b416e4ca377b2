/*
 * printf-style formatting for guests: %d %i %u %x %X %c %s %p %%, flags
 * '-' and '0', width, precision (also '*'), length h hh l ll z.  Output
 * goes to a buffer (rt_snprintf) or to the console hypercall (rt_printf).
 */
#include "guest/rt/rt.h"

struct fmt_out {
	char *buf;
	size_t cap;
	size_t len;   /* bytes the full output needs */
};

struct fmt_spec {
	bool left, zero;
	int width, prec;      /* prec < 0: none */
	int lng;              /* -2 hh, -1 h, 0 int, 1 long, 2 long long/size_t */
};

/* Append one char, counting it even when the buffer is full. */
static void fmt_putc(struct fmt_out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len] = c;
	o->len++;
}

/* Append s[0..n) padded to the spec's width. */
static void fmt_field(struct fmt_out *o, const struct fmt_spec *sp,
		      const char *s, size_t n, char pad)
{
	size_t w = sp->width > 0 ? (size_t)sp->width : 0;
	size_t fill = w > n ? w - n : 0;

	if (!sp->left)
		while (fill--)
			fmt_putc(o, pad);
	for (size_t i = 0; i < n; i++)
		fmt_putc(o, s[i]);
	if (sp->left)
		while (fill--)
			fmt_putc(o, ' ');
}

/* Format an integer magnitude with sign and base. */
static void fmt_int(struct fmt_out *o, const struct fmt_spec *sp,
		    uint64_t v, bool neg, unsigned base, bool upper)
{
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = dig[v % base];
		v /= base;
	} while (v);
	if (neg) {
		if (sp->zero && !sp->left && sp->width > 0) {
			struct fmt_spec s2 = *sp;
			fmt_putc(o, '-');
			s2.width = sp->width - 1;
			fmt_field(o, &s2, tmp + n, sizeof(tmp) - n, '0');
			return;
		}
		tmp[--n] = '-';
	}
	fmt_field(o, sp, tmp + n, sizeof(tmp) - n,
		  sp->zero && !sp->left ? '0' : ' ');
}

/* Fetch a signed integer argument of the spec's length. */
static int64_t fmt_arg_signed(const struct fmt_spec *sp, va_list *ap)
{
	switch (sp->lng) {
	case 2: return va_arg(*ap, long long);
	case 1: return va_arg(*ap, long);
	case -1: return (short)va_arg(*ap, int);
	case -2: return (signed char)va_arg(*ap, int);
	default: return va_arg(*ap, int);
	}
}

/* Fetch an unsigned integer argument of the spec's length. */
static uint64_t fmt_arg_unsigned(const struct fmt_spec *sp, va_list *ap)
{
	switch (sp->lng) {
	case 2: return va_arg(*ap, unsigned long long);
	case 1: return va_arg(*ap, unsigned long);
	case -1: return (unsigned short)va_arg(*ap, unsigned);
	case -2: return (unsigned char)va_arg(*ap, unsigned);
	default: return va_arg(*ap, unsigned);
	}
}

/* Parse flags, width, precision and length after a '%'. */
static const char *fmt_parse_spec(const char *f, struct fmt_spec *sp, va_list *ap)
{
	*sp = (struct fmt_spec){ .prec = -1 };
	for (;; f++) {
		if (*f == '-') sp->left = true;
		else if (*f == '0') sp->zero = true;
		else break;
	}
	if (*f == '*') {
		sp->width = va_arg(*ap, int);
		if (sp->width < 0) {
			sp->left = true;
			sp->width = -sp->width;
		}
		f++;
	}
	while (*f >= '0' && *f <= '9' && sp->width < 100000)
		sp->width = sp->width * 10 + (*f++ - '0');
	if (*f == '.') {
		f++;
		sp->prec = 0;
		if (*f == '*') {
			sp->prec = va_arg(*ap, int);
			f++;
		}
		while (*f >= '0' && *f <= '9' && sp->prec < 100000)
			sp->prec = sp->prec * 10 + (*f++ - '0');
	}
	for (;; f++) {
		if (*f == 'l') sp->lng = sp->lng < 1 ? 1 : 2;
		else if (*f == 'z') sp->lng = 2;
		else if (*f == 'h') sp->lng = sp->lng < 0 ? -2 : -1;
		else break;
	}
	return f;
}

/* Format into buf (always NUL-terminated if cap > 0); returns the full length. */
int rt_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap0)
{
	struct fmt_out o = { buf, cap, 0 };
	struct fmt_spec sp;
	va_list ap;

	va_copy(ap, ap0);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			fmt_putc(&o, *f);
			continue;
		}
		f = fmt_parse_spec(f + 1, &sp, &ap);
		switch (*f) {
		case 'd': case 'i': {
			int64_t v = fmt_arg_signed(&sp, &ap);
			fmt_int(&o, &sp, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, 10, false);
			break;
		}
		case 'u': fmt_int(&o, &sp, fmt_arg_unsigned(&sp, &ap), false, 10, false); break;
		case 'x': fmt_int(&o, &sp, fmt_arg_unsigned(&sp, &ap), false, 16, false); break;
		case 'X': fmt_int(&o, &sp, fmt_arg_unsigned(&sp, &ap), false, 16, true); break;
		case 'p':
			fmt_putc(&o, '0');
			fmt_putc(&o, 'x');
			sp.lng = 2;
			fmt_int(&o, &sp, (uintptr_t)va_arg(ap, void *), false, 16, false);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			fmt_field(&o, &sp, &c, 1, ' ');
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t n = 0;
			if (!s)
				s = "(null)";
			while (s[n] && (sp.prec < 0 || n < (size_t)sp.prec))
				n++;
			fmt_field(&o, &sp, s, n, ' ');
			break;
		}
		case '%': fmt_putc(&o, '%'); break;
		default:      /* unknown conversion or end of string: stop */
			goto out;
		}
	}
out:
	va_end(ap);
	if (cap)
		buf[o.len < cap ? o.len : cap - 1] = '\0';
	return o.len > 0x7fffffff ? 0x7fffffff : (int)o.len;
}

/* Format into a buffer. */
int rt_snprintf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = rt_vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

/* Format to the console (lines longer than 512 bytes are cut). */
int rt_printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	hc_console_write(buf, (uint64_t)n);
	return n;
}

/* Report a broken invariant on the console and stop the guest. */
_Noreturn void rt_panic(const char *file, int line, const char *what)
{
	rt_printf("guest panic: %s:%d: %s\n", file, line, what);
	hc_exit(134);
}
