/*
 * pgwire.c - PostgreSQL frontend/backend protocol 3.0 codec (see czpg/pgwire.h).
 *
 * Implements PostgreSQL docs chapter 55 "Frontend/Backend Protocol":
 * section "Message Formats" for the byte layout of every message built or
 * decoded here, and "Message Flow" for the framing (Byte1 type, Int32
 * length that counts itself but not the type byte).  All integers are
 * big-endian and go through czpg/buf.h; a run of fixed-size fields (a
 * RowDescription field's 18 bytes, a Query's header) is taken as one
 * bounds-checked view and read with be16/be32 below, one check instead of
 * one per field.
 */
#include "czpg/pgwire.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/errf.h"

#define PGWIRE_HARD_MAX_MSG ((size_t)1 << 30)

/* Big-endian integers of a view already known to hold them. */
static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- Builders ----------------------------------------------------------- */

/*
 * Every typed message: the type byte, a length placeholder, the body, then
 * the length patched in.  msg_begin returns the offset of the length word.
 */
static size_t msg_begin(struct czpg_wbuf *w, uint8_t type)
{
	size_t off;

	czpg_wbuf_u8(w, type);
	off = w->len;
	czpg_wbuf_u32(w, 0);
	return off;
}

/*
 * Patches the length word at off and checks the whole message went in.  On
 * failure rewinds w to start (the length before the message) so no partial
 * message is ever left behind; w->err stays set for a cap failure.
 */
static int msg_end(struct czpg_wbuf *w, size_t start, size_t off, bool ok)
{
	int rc = -1;

	if (!ok || w->err)
		goto out;
	if (w->len - off > INT32_MAX) {
		w->err = true;
		goto out;
	}
	if (czpg_wbuf_put_u32_at(w, off, (uint32_t)(w->len - off)) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && w->len > start)
		w->len = start;
	return rc;
}

static const char *name_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

int czpg_pgwire_ssl_request(struct czpg_wbuf *w)
{
	size_t start = w->len;

	if (w->err)
		return -1;
	czpg_wbuf_u32(w, 8);
	czpg_wbuf_u32(w, CZPG_PGWIRE_SSL_REQUEST_CODE);
	return msg_end(w, start, start, true);
}

int czpg_pgwire_startup(struct czpg_wbuf *w, const char *const *params)
{
	size_t start = w->len;
	bool ok = params != NULL;
	size_t i;

	if (w->err)
		return -1;
	czpg_wbuf_u32(w, 0);
	czpg_wbuf_u32(w, CZPG_PGWIRE_PROTOCOL_3_0);
	for (i = 0; ok && params[i] != NULL; i += 2) {
		if (params[i][0] == '\0' || params[i + 1] == NULL) {
			ok = false;
			break;
		}
		czpg_wbuf_cstr(w, params[i]);
		czpg_wbuf_cstr(w, params[i + 1]);
	}
	czpg_wbuf_u8(w, 0);
	return msg_end(w, start, start, ok);
}

int czpg_pgwire_sasl_initial_response(struct czpg_wbuf *w, const char *mechanism, const void *data,
				      size_t len)
{
	size_t start = w->len, off;
	bool ok = mechanism != NULL && mechanism[0] != '\0' && (data == NULL || len <= INT32_MAX);

	if (w->err)
		return -1;
	off = msg_begin(w, 'p');
	if (ok) {
		czpg_wbuf_cstr(w, mechanism);
		if (data == NULL) {
			czpg_wbuf_i32(w, -1);
		} else {
			czpg_wbuf_u32(w, (uint32_t)len);
			czpg_wbuf_bytes(w, data, len);
		}
	}
	return msg_end(w, start, off, ok);
}

int czpg_pgwire_sasl_response(struct czpg_wbuf *w, const void *data, size_t len)
{
	size_t start = w->len, off;
	bool ok = data != NULL || len == 0;

	if (w->err)
		return -1;
	off = msg_begin(w, 'p');
	if (ok && len != 0)
		czpg_wbuf_bytes(w, data, len);
	return msg_end(w, start, off, ok);
}

int czpg_pgwire_password(struct czpg_wbuf *w, const char *password)
{
	size_t start = w->len, off;

	if (w->err)
		return -1;
	off = msg_begin(w, 'p');
	if (password != NULL)
		czpg_wbuf_cstr(w, password);
	return msg_end(w, start, off, password != NULL);
}

/*
 * The message of every simple-protocol query: its length is known before a
 * byte is written, so one reservation covers it and nothing is patched.
 */
int czpg_pgwire_query(struct czpg_wbuf *w, const char *sql)
{
	size_t n, total;
	uint8_t *p;

	if (w->err || sql == NULL)
		return -1;
	n = strlen(sql) + 1;
	if (n > INT32_MAX - 4) {
		w->err = true;
		return -1;
	}
	total = 5 + n;
	p = czpg_wbuf_space(w, total);
	if (p == NULL)
		return -1; /* the cap or memory: w->err is set */
	p[0] = 'Q';
	p[1] = (uint8_t)((4 + n) >> 24);
	p[2] = (uint8_t)((4 + n) >> 16);
	p[3] = (uint8_t)((4 + n) >> 8);
	p[4] = (uint8_t)(4 + n);
	memcpy(p + 5, sql, n);
	w->len += total; /* what czpg_wbuf_commit does, its checks passed: the room is reserved */
	return 0;
}

int czpg_pgwire_parse(struct czpg_wbuf *w, const char *stmt, const char *query, size_t nparams,
		      const uint32_t *param_oids)
{
	size_t start = w->len, off, i;
	bool ok = query != NULL && nparams <= CZPG_PGWIRE_MAX_PARAMS &&
		  (nparams == 0 || param_oids != NULL);

	if (w->err)
		return -1;
	off = msg_begin(w, 'P');
	if (ok) {
		czpg_wbuf_cstr(w, name_or_empty(stmt));
		czpg_wbuf_cstr(w, query);
		czpg_wbuf_u16(w, (uint16_t)nparams);
		for (i = 0; i < nparams; i++)
			czpg_wbuf_u32(w, param_oids[i]);
	}
	return msg_end(w, start, off, ok);
}

int czpg_pgwire_bind(struct czpg_wbuf *w, const char *portal, const char *stmt, size_t nparams,
		     const char *const *values, const size_t *lengths, size_t nresult_formats,
		     const int16_t *result_formats)
{
	size_t start = w->len, off, i, n;
	bool ok = nparams <= CZPG_PGWIRE_MAX_PARAMS && nresult_formats <= CZPG_PGWIRE_MAX_PARAMS &&
		  (nparams == 0 || values != NULL) &&
		  (nresult_formats == 0 || result_formats != NULL);

	if (w->err)
		return -1;
	off = msg_begin(w, 'B');
	if (!ok)
		goto out;
	czpg_wbuf_cstr(w, name_or_empty(portal));
	czpg_wbuf_cstr(w, name_or_empty(stmt));
	czpg_wbuf_u16(w, 0); /* no parameter format codes: all text */
	czpg_wbuf_u16(w, (uint16_t)nparams);
	for (i = 0; i < nparams; i++) {
		if (values[i] == NULL) {
			czpg_wbuf_i32(w, -1);
			continue;
		}
		n = lengths != NULL ? lengths[i] : strlen(values[i]);
		if (n > INT32_MAX) {
			ok = false;
			goto out;
		}
		czpg_wbuf_u32(w, (uint32_t)n);
		czpg_wbuf_bytes(w, values[i], n);
	}
	czpg_wbuf_u16(w, (uint16_t)nresult_formats);
	for (i = 0; i < nresult_formats; i++)
		czpg_wbuf_i16(w, result_formats[i]);
out:
	return msg_end(w, start, off, ok);
}

static int describe_or_close(struct czpg_wbuf *w, uint8_t type, char kind, const char *name)
{
	size_t start = w->len, off;
	bool ok = kind == 'S' || kind == 'P';

	if (w->err)
		return -1;
	off = msg_begin(w, type);
	if (ok) {
		czpg_wbuf_u8(w, (uint8_t)kind);
		czpg_wbuf_cstr(w, name_or_empty(name));
	}
	return msg_end(w, start, off, ok);
}

int czpg_pgwire_describe(struct czpg_wbuf *w, char kind, const char *name)
{
	return describe_or_close(w, 'D', kind, name);
}

int czpg_pgwire_close(struct czpg_wbuf *w, char kind, const char *name)
{
	return describe_or_close(w, 'C', kind, name);
}

int czpg_pgwire_execute(struct czpg_wbuf *w, const char *portal, uint32_t max_rows)
{
	size_t start = w->len, off;

	if (w->err)
		return -1;
	off = msg_begin(w, 'E');
	czpg_wbuf_cstr(w, name_or_empty(portal));
	czpg_wbuf_u32(w, max_rows);
	return msg_end(w, start, off, true);
}

static int empty_message(struct czpg_wbuf *w, uint8_t type)
{
	size_t start = w->len, off;

	if (w->err)
		return -1;
	off = msg_begin(w, type);
	return msg_end(w, start, off, true);
}

int czpg_pgwire_sync(struct czpg_wbuf *w)
{
	return empty_message(w, 'S');
}

int czpg_pgwire_flush(struct czpg_wbuf *w)
{
	return empty_message(w, 'H');
}

int czpg_pgwire_terminate(struct czpg_wbuf *w)
{
	return empty_message(w, 'X');
}

/* ---- Parser ------------------------------------------------------------- */

static void parser_fail(struct czpg_pgwire_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void parser_fail(struct czpg_pgwire_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return; /* keep the first reason */
	va_start(ap, fmt);
	czpg_verrf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	p->failed = true;
}

/* Most bytes the parser may hold: one maximal message and a read's worth. */
static size_t parser_limit(const struct czpg_pgwire_parser *p)
{
	return p->max_msg + 1 + CZPG_PGWIRE_FEED_SLACK;
}

void czpg_pgwire_parser_init(struct czpg_pgwire_parser *p, size_t max_msg_len)
{
	memset(p, 0, sizeof(*p));
	if (max_msg_len == 0)
		max_msg_len = CZPG_PGWIRE_DEFAULT_MAX_MSG;
	if (max_msg_len < 4)
		max_msg_len = 4;
	if (max_msg_len > PGWIRE_HARD_MAX_MSG)
		max_msg_len = PGWIRE_HARD_MAX_MSG;
	p->max_msg = max_msg_len;
	czpg_wbuf_init(&p->in, parser_limit(p));
}

size_t czpg_pgwire_parser_buffered(const struct czpg_pgwire_parser *p)
{
	return p->in.len;
}

const char *czpg_pgwire_parser_error(const struct czpg_pgwire_parser *p)
{
	return p->failed ? p->err : "";
}

int czpg_pgwire_parser_feed(struct czpg_pgwire_parser *p, const void *data, size_t n)
{
	size_t limit = parser_limit(p);
	size_t held = p->in.len;

	if (p->failed)
		return -1;
	if (n == 0)
		return 0;
	if (data == NULL || n > limit || held > limit - n) {
		parser_fail(p,
			    "server data not drained: %zu bytes would be held, more than the "
			    "%zu allowed; read messages between feeds",
			    held + (n > limit ? 0 : n), limit);
		return -1;
	}
	/*
	 * The buffer's cap is the limit just checked, so a failure here is an
	 * allocation; growth wipes the old storage (it may hold authentication
	 * data) and consumed messages cost no copy.
	 */
	if (czpg_wbuf_bytes(&p->in, data, n) < 0) {
		parser_fail(p, "out of memory buffering %zu bytes of server data", held + n);
		return -1;
	}
	return 0;
}

/*
 * Frames the message starting at h (avail bytes, at least 5): 1 with its
 * length word in *len when all of it is there, 0 when more is needed, -1
 * (the parser failed) on a length word no message may have.
 */
static int frame(struct czpg_pgwire_parser *p, const uint8_t *h, size_t avail, uint32_t *len)
{
	uint8_t type = h[0];
	uint32_t l = be32(h + 1);

	if (l & 0x80000000u) {
		parser_fail(p,
			    "protocol error: server message '%c' (0x%02x) has a negative length "
			    "(0x%08x); the server is not speaking PostgreSQL protocol 3.0",
			    type >= 0x20 && type < 0x7f ? type : '?', type, l);
		return -1;
	}
	if (l < 4) {
		parser_fail(p,
			    "protocol error: server message '%c' (0x%02x) has length %u, below the "
			    "minimum of 4; the server is not speaking PostgreSQL protocol 3.0",
			    type >= 0x20 && type < 0x7f ? type : '?', type, l);
		return -1;
	}
	if (l > p->max_msg) {
		parser_fail(p,
			    "protocol error: server message '%c' (0x%02x) claims %u bytes, more "
			    "than the %zu-byte limit; refusing to buffer it",
			    type >= 0x20 && type < 0x7f ? type : '?', type, l, p->max_msg);
		return -1;
	}
	*len = l;
	return avail - 1 < l ? 0 : 1;
}

static void view(struct czpg_pgwire_msg *msg, const uint8_t *h, uint32_t len)
{
	msg->type = h[0];
	msg->body = h + 5;
	msg->len = len - 4;
}

int czpg_pgwire_parser_next(struct czpg_pgwire_parser *p, struct czpg_pgwire_msg *msg)
{
	uint32_t len;
	int r;

	if (p->failed)
		return -1;
	if (p->in.len < 5)
		return 0;
	r = frame(p, p->in.data, p->in.len, &len);
	if (r <= 0)
		return r;
	view(msg, p->in.data, len);
	/* Moves the read cursor only: the view stays valid until the next feed. */
	czpg_wbuf_consume(&p->in, 1 + (size_t)len);
	return 1;
}

/*
 * next_in past its fast path: a partial message, held bytes, or a bad length
 * word.  Kept out of line so that the fast path needs no stack frame.
 */
__attribute__((noinline)) static int next_in_slow(struct czpg_pgwire_parser *p,
						  const uint8_t **data, size_t *n,
						  struct czpg_pgwire_msg *msg)
{
	uint32_t len;

	/* A bad length word fails here, before anything is buffered. */
	if (p->in.len == 0 && *n >= 5 && frame(p, *data, *n, &len) < 0)
		return -1;
	if (*n > 0) {
		if (czpg_pgwire_parser_feed(p, *data, *n) < 0)
			return -1;
		*data += *n;
		*n = 0;
	}
	return czpg_pgwire_parser_next(p, msg);
}

int czpg_pgwire_parser_next_in(struct czpg_pgwire_parser *p, const uint8_t **data, size_t *n,
			       struct czpg_pgwire_msg *msg)
{
	uint32_t len;

	if (p->failed)
		return -1;
	if (p->in.len == 0) {
		if (*n == 0)
			return 0;
		/*
		 * Nothing held: a whole message in data is read where it lies.  One
		 * test for the common case (max_msg < 2^31: no negative length).
		 */
		if (*n >= 5) {
			len = be32(*data + 1);
			if (len >= 4 && len <= p->max_msg && *n - 1 >= len) {
				view(msg, *data, len);
				*data += 1 + (size_t)len;
				*n -= 1 + (size_t)len;
				return 1;
			}
		}
	}
	return next_in_slow(p, data, n, msg);
}

void czpg_pgwire_parser_free(struct czpg_pgwire_parser *p)
{
	if (p == NULL)
		return;
	czpg_wbuf_free_secure(&p->in);
}

/* ---- Decoders ----------------------------------------------------------- */

static int dec_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int dec_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	czpg_verrf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

const char *czpg_pgwire_msg_name(uint8_t type)
{
	switch (type) {
	case 'R':
		return "Authentication";
	case 'S':
		return "ParameterStatus";
	case 'K':
		return "BackendKeyData";
	case 'Z':
		return "ReadyForQuery";
	case 'T':
		return "RowDescription";
	case 'D':
		return "DataRow";
	case 'C':
		return "CommandComplete";
	case 'I':
		return "EmptyQueryResponse";
	case 'E':
		return "ErrorResponse";
	case 'N':
		return "NoticeResponse";
	case '1':
		return "ParseComplete";
	case '2':
		return "BindComplete";
	case '3':
		return "CloseComplete";
	case 'n':
		return "NoData";
	case 's':
		return "PortalSuspended";
	case 't':
		return "ParameterDescription";
	case 'A':
		return "NotificationResponse";
	case 'v':
		return "NegotiateProtocolVersion";
	case 'G':
		return "CopyInResponse";
	case 'H':
		return "CopyOutResponse";
	case 'W':
		return "CopyBothResponse";
	case 'd':
		return "CopyData";
	case 'c':
		return "CopyDone";
	case 'V':
		return "FunctionCallResponse";
	default:
		return "unknown";
	}
}

/* The one place that produces "expected X, got Y" (check_type's slow path). */
static int type_mismatch(const struct czpg_pgwire_msg *m, uint8_t want, char *err, size_t errlen)
{
	if (m == NULL)
		return dec_fail(err, errlen, "no message to decode");
	if (m->type != want)
		return dec_fail(err, errlen, "expected a %s message, got %s (type 0x%02x)",
				czpg_pgwire_msg_name(want), czpg_pgwire_msg_name(m->type), m->type);
	return dec_fail(err, errlen, "the %s message has no body", czpg_pgwire_msg_name(want));
}

/* Checks the message type; inline because every decoded message passes it. */
static inline int check_type(const struct czpg_pgwire_msg *m, uint8_t want, char *err,
			     size_t errlen)
{
	if (m != NULL && m->type == want && (m->body != NULL || m->len == 0))
		return 0;
	return type_mismatch(m, want, err, errlen);
}

static int end_mismatch(const struct czpg_rbuf *r, uint8_t type, char *err, size_t errlen)
{
	if (r->err)
		return dec_fail(err, errlen,
				"malformed %s message from the server: a field runs past the end "
				"of its %zu-byte body",
				czpg_pgwire_msg_name(type), r->len);
	return dec_fail(err, errlen,
			"malformed %s message from the server: %zu unexpected trailing bytes",
			czpg_pgwire_msg_name(type), r->len - r->pos);
}

/* After the last field: the reads went in bounds and consumed the body exactly. */
static inline int check_end(const struct czpg_rbuf *r, uint8_t type, char *err, size_t errlen)
{
	if (!r->err && r->pos == r->len)
		return 0;
	return end_mismatch(r, type, err, errlen);
}

static int decode_sasl_mechs(struct czpg_rbuf *r, struct czpg_pgwire_auth *out, char *err,
			     size_t errlen)
{
	const char *name;
	size_t n;

	for (;;) {
		if (czpg_rbuf_cstr(r, &name, &n) < 0)
			return dec_fail(err, errlen,
					"malformed AuthenticationSASL message: the mechanism list "
					"is not terminated");
		if (n == 0)
			return 0;
		if (out->nmechs == CZPG_PGWIRE_MAX_SASL_MECHS)
			return dec_fail(
			    err, errlen,
			    "the AuthenticationSASL message lists more than %d mechanisms; "
			    "refusing it",
			    CZPG_PGWIRE_MAX_SASL_MECHS);
		out->mechs[out->nmechs++] = name;
	}
}

int czpg_pgwire_decode_auth(const struct czpg_pgwire_msg *m, struct czpg_pgwire_auth *out,
			    char *err, size_t errlen)
{
	struct czpg_rbuf r;
	size_t rest;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (check_type(m, 'R', err, errlen) < 0)
		goto out;
	czpg_rbuf_init(&r, m->body, m->len);
	if (czpg_rbuf_u32(&r, &out->code) < 0) {
		dec_fail(err, errlen, "malformed Authentication message: %zu-byte body has no code",
			 m->len);
		goto out;
	}
	rest = czpg_rbuf_remaining(&r);
	switch (out->code) {
	case CZPG_PGWIRE_AUTH_OK:
	case CZPG_PGWIRE_AUTH_CLEARTEXT:
		break;
	case CZPG_PGWIRE_AUTH_MD5:
		if (rest != 4) {
			dec_fail(err, errlen,
				 "malformed AuthenticationMD5Password message: salt is %zu bytes, "
				 "not 4",
				 rest);
			goto out;
		}
		out->len = 4;
		czpg_rbuf_bytes(&r, 4, &out->data);
		break;
	case CZPG_PGWIRE_AUTH_SASL:
		if (rest != 0)
			out->data = r.data + r.pos;
		out->len = rest;
		if (decode_sasl_mechs(&r, out, err, errlen) < 0)
			goto out;
		break;
	default:
		/* SASLContinue, SASLFinal, GSS data and codes we do not interpret. */
		out->len = rest;
		if (rest != 0)
			czpg_rbuf_bytes(&r, rest, &out->data);
		break;
	}
	if (check_end(&r, 'R', err, errlen) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		/* Never leave a failed decode looking like AuthenticationOk. */
		memset(out, 0, sizeof(*out));
		out->code = UINT32_MAX;
	}
	return rc;
}

int czpg_pgwire_auth_has_mechanism(const struct czpg_pgwire_auth *a, const char *name)
{
	size_t i;

	if (a == NULL || name == NULL || a->code != CZPG_PGWIRE_AUTH_SASL)
		return 0;
	for (i = 0; i < a->nmechs && i < CZPG_PGWIRE_MAX_SASL_MECHS; i++)
		if (strcmp(a->mechs[i], name) == 0)
			return 1;
	return 0;
}

int czpg_pgwire_decode_parameter_status(const struct czpg_pgwire_msg *m, const char **name,
					const char **value, char *err, size_t errlen)
{
	struct czpg_rbuf r;
	const char *n = NULL, *v = NULL;

	if (check_type(m, 'S', err, errlen) < 0)
		return -1;
	czpg_rbuf_init(&r, m->body, m->len);
	czpg_rbuf_cstr(&r, &n, NULL);
	czpg_rbuf_cstr(&r, &v, NULL);
	if (check_end(&r, 'S', err, errlen) < 0)
		return -1;
	*name = n;
	*value = v;
	return 0;
}

int czpg_pgwire_decode_backend_key(const struct czpg_pgwire_msg *m, uint32_t *pid, uint32_t *secret,
				   char *err, size_t errlen)
{
	struct czpg_rbuf r;
	uint32_t a = 0, b = 0;

	if (check_type(m, 'K', err, errlen) < 0)
		return -1;
	czpg_rbuf_init(&r, m->body, m->len);
	czpg_rbuf_u32(&r, &a);
	czpg_rbuf_u32(&r, &b);
	if (check_end(&r, 'K', err, errlen) < 0)
		return -1;
	*pid = a;
	*secret = b;
	return 0;
}

int czpg_pgwire_decode_ready(const struct czpg_pgwire_msg *m, char *status, char *err,
			     size_t errlen)
{
	struct czpg_rbuf r;
	uint8_t s = 0;

	if (check_type(m, 'Z', err, errlen) < 0)
		return -1;
	czpg_rbuf_init(&r, m->body, m->len);
	czpg_rbuf_u8(&r, &s);
	if (check_end(&r, 'Z', err, errlen) < 0)
		return -1;
	if (s != 'I' && s != 'T' && s != 'E')
		return dec_fail(err, errlen,
				"malformed ReadyForQuery message: transaction status 0x%02x is not "
				"I, T or E",
				s);
	*status = (char)s;
	return 0;
}

/* Why an Int16 count was refused (read_count's slow path). */
static int bad_count(const struct czpg_rbuf *r, uint8_t type, const char *what, size_t max,
		     bool missing, int16_t n, char *err, size_t errlen)
{
	if (missing)
		return dec_fail(err, errlen, "malformed %s message: %zu-byte body has no %s count",
				czpg_pgwire_msg_name(type), r->len, what);
	if (n < 0)
		return dec_fail(err, errlen, "malformed %s message: negative %s count %d",
				czpg_pgwire_msg_name(type), what, n);
	return dec_fail(err, errlen,
			"the %s message has %d %ss, more than the %zu this client accepts",
			czpg_pgwire_msg_name(type), n, what, max);
}

/* Reads an Int16 count that must be >= 0 and <= max. */
static inline int read_count(struct czpg_rbuf *r, uint8_t type, const char *what, size_t max,
			     size_t *out, char *err, size_t errlen)
{
	int16_t n = 0;

	if (czpg_rbuf_i16(r, &n) < 0)
		return bad_count(r, type, what, max, true, n, err, errlen);
	if (n < 0 || (size_t)n > max)
		return bad_count(r, type, what, max, false, n, err, errlen);
	*out = (size_t)n;
	return 0;
}

int czpg_pgwire_decode_row_description(const struct czpg_pgwire_msg *m,
				       struct czpg_pgwire_field *fields, size_t max_fields,
				       size_t *nfields, char *err, size_t errlen)
{
	struct czpg_rbuf r;
	size_t n = 0, i;

	*nfields = 0;
	if (check_type(m, 'T', err, errlen) < 0)
		return -1;
	czpg_rbuf_init(&r, m->body, m->len);
	if (read_count(&r, 'T', "field", max_fields, &n, err, errlen) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct czpg_pgwire_field *f = &fields[i];
		const uint8_t *p;

		/* The name, then 18 bytes of fixed fields taken as one view. */
		if (czpg_rbuf_cstr(&r, &f->name, NULL) < 0 || czpg_rbuf_bytes(&r, 18, &p) < 0)
			break;
		f->table_oid = be32(p);
		f->attnum = (int16_t)be16(p + 4);
		f->type_oid = be32(p + 6);
		f->typlen = (int16_t)be16(p + 10);
		f->typmod = (int32_t)be32(p + 12);
		f->format = (int16_t)be16(p + 16);
	}
	if (check_end(&r, 'T', err, errlen) < 0)
		return -1;
	*nfields = n;
	return 0;
}

int czpg_pgwire_decode_data_row(const struct czpg_pgwire_msg *m, struct czpg_pgwire_value *vals,
				size_t max_vals, size_t *nvals, char *err, size_t errlen)
{
	struct czpg_rbuf r;
	size_t n = 0, i;
	int32_t len;

	*nvals = 0;
	if (check_type(m, 'D', err, errlen) < 0)
		return -1;
	czpg_rbuf_init(&r, m->body, m->len);
	if (read_count(&r, 'D', "column", max_vals, &n, err, errlen) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct czpg_pgwire_value *v = &vals[i];

		if (czpg_rbuf_i32(&r, &len) < 0)
			break;
		v->data = NULL;
		v->len = len > 0 ? (size_t)len : 0;
		v->null = len == -1;
		if (len < -1)
			return dec_fail(err, errlen,
					"malformed DataRow message: column %zu has length %d",
					i + 1, (int)len);
		if (len > 0 && czpg_rbuf_bytes(&r, (size_t)len, &v->data) < 0)
			break;
	}
	if (check_end(&r, 'D', err, errlen) < 0)
		return -1;
	*nvals = n;
	return 0;
}

int czpg_pgwire_decode_command_complete(const struct czpg_pgwire_msg *m, const char **tag,
					char *err, size_t errlen)
{
	struct czpg_rbuf r;
	const char *t = NULL;

	if (check_type(m, 'C', err, errlen) < 0)
		return -1;
	czpg_rbuf_init(&r, m->body, m->len);
	czpg_rbuf_cstr(&r, &t, NULL);
	if (check_end(&r, 'C', err, errlen) < 0)
		return -1;
	*tag = t;
	return 0;
}

int czpg_pgwire_decode_empty(const struct czpg_pgwire_msg *m, char *err, size_t errlen)
{
	if (m == NULL)
		return dec_fail(err, errlen, "no message to decode");
	switch (m->type) {
	case 'I':
	case '1':
	case '2':
	case '3':
	case 'n':
	case 's':
		break;
	default:
		return dec_fail(err, errlen,
				"the %s message (type 0x%02x) is not a message without a body",
				czpg_pgwire_msg_name(m->type), m->type);
	}
	if (m->len != 0)
		return dec_fail(err, errlen,
				"malformed %s message from the server: %zu unexpected trailing "
				"bytes",
				czpg_pgwire_msg_name(m->type), m->len);
	return 0;
}

int czpg_pgwire_decode_parameter_description(const struct czpg_pgwire_msg *m, uint32_t *oids,
					     size_t max_oids, size_t *noids, char *err,
					     size_t errlen)
{
	struct czpg_rbuf r;
	uint16_t count;
	size_t i;

	*noids = 0;
	if (check_type(m, 't', err, errlen) < 0)
		return -1;
	czpg_rbuf_init(&r, m->body, m->len);
	/* PostgreSQL sends this Int16 as unsigned (up to 65535 parameters). */
	if (czpg_rbuf_u16(&r, &count) < 0)
		return dec_fail(err, errlen, "malformed ParameterDescription message: no count");
	if (count > max_oids)
		return dec_fail(err, errlen,
				"the ParameterDescription message has %u parameters, more than the "
				"%zu this client accepts",
				count, max_oids);
	for (i = 0; i < count; i++)
		czpg_rbuf_u32(&r, &oids[i]);
	if (check_end(&r, 't', err, errlen) < 0)
		return -1;
	*noids = count;
	return 0;
}

int czpg_pgwire_decode_error(const struct czpg_pgwire_msg *m, struct czpg_pgwire_error *out,
			     char *err, size_t errlen)
{
	struct czpg_rbuf r;
	const char **slot, *val;
	uint8_t code;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (m == NULL || (m->type != 'E' && m->type != 'N')) {
		check_type(m, 'E', err, errlen);
		goto out;
	}
	if (m->body == NULL && m->len != 0) {
		dec_fail(err, errlen, "the %s message has no body", czpg_pgwire_msg_name(m->type));
		goto out;
	}
	czpg_rbuf_init(&r, m->body, m->len);
	/* Each field costs at least 2 bytes, so the body length bounds the loop. */
	for (;;) {
		if (czpg_rbuf_u8(&r, &code) < 0) {
			dec_fail(err, errlen,
				 "malformed %s message from the server: field list is not "
				 "terminated",
				 czpg_pgwire_msg_name(m->type));
			goto out;
		}
		if (code == 0)
			break;
		if (czpg_rbuf_cstr(&r, &val, NULL) < 0) {
			dec_fail(err, errlen,
				 "malformed %s message from the server: field '%c' is not "
				 "NUL-terminated",
				 czpg_pgwire_msg_name(m->type),
				 code >= 0x20 && code < 0x7f ? code : '?');
			goto out;
		}
		switch (code) {
		case 'S':
			slot = &out->severity;
			break;
		case 'V':
			slot = &out->severity_nonlocal;
			break;
		case 'C':
			slot = &out->sqlstate;
			break;
		case 'M':
			slot = &out->message;
			break;
		case 'D':
			slot = &out->detail;
			break;
		case 'H':
			slot = &out->hint;
			break;
		case 'P':
			slot = &out->position;
			break;
		case 'p':
			slot = &out->internal_position;
			break;
		case 'q':
			slot = &out->internal_query;
			break;
		case 'W':
			slot = &out->where;
			break;
		case 's':
			slot = &out->schema;
			break;
		case 't':
			slot = &out->table;
			break;
		case 'c':
			slot = &out->column;
			break;
		case 'd':
			slot = &out->datatype;
			break;
		case 'n':
			slot = &out->constraint;
			break;
		case 'F':
			slot = &out->file;
			break;
		case 'L':
			slot = &out->line;
			break;
		case 'R':
			slot = &out->routine;
			break;
		default:
			slot = NULL;
			break; /* future field codes are to be ignored */
		}
		if (slot != NULL)
			*slot = val;
	}
	if (check_end(&r, m->type, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- Safe rendering of server text ------------------------------------- */

/*
 * Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0
 * when the bytes are not a valid, shortest-form, non-surrogate sequence.
 */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	/* A NUL ends the string and is never a continuation byte, so no over-read. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Code points a terminal may act on or that reorder the text around them. */
static bool unsafe_code_point(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff;
}

size_t czpg_pgwire_sanitize(const char *in, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)(in != NULL ? in : "");
	size_t o = 0, n, piece_len;
	char esc[12];
	const char *piece;
	uint32_t cp;

	if (out == NULL || outlen == 0)
		return 0;
	while (*s != '\0') {
		n = utf8_decode(s, &cp);
		if (n == 0) {
			snprintf(esc, sizeof(esc), "\\x%02x", s[0]);
			piece = esc;
			n = 1;
		} else if (cp == '\n') {
			piece = "\\n";
		} else if (cp == '\r') {
			piece = "\\r";
		} else if (cp == '\t') {
			piece = "\\t";
		} else if (cp < 0x20 || cp == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
			piece = esc;
		} else if (unsafe_code_point(cp)) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
			piece = esc;
		} else {
			piece = (const char *)s;
		}
		piece_len = piece == (const char *)s ? n : strlen(piece);
		if (piece_len >= outlen - o)
			break;
		memcpy(out + o, piece, piece_len);
		o += piece_len;
		s += n;
	}
	out[o] = '\0';
	return o;
}

/* Appends label and the sanitized text of s at out[*o], keeping the NUL. */
static void append_field(char *out, size_t outlen, size_t *o, const char *label, const char *s)
{
	size_t l = strlen(label);

	if (*o + 1 >= outlen)
		return;
	if (l >= outlen - *o)
		l = outlen - *o - 1;
	memcpy(out + *o, label, l);
	*o += l;
	out[*o] = '\0';
	if (s != NULL)
		*o += czpg_pgwire_sanitize(s, out + *o, outlen - *o);
}

size_t czpg_pgwire_error_format(const struct czpg_pgwire_error *e, char *out, size_t outlen)
{
	const char *sev;
	size_t o = 0;

	if (out == NULL || outlen == 0)
		return 0;
	out[0] = '\0';
	if (e == NULL)
		return 0;
	sev = e->severity_nonlocal != NULL ? e->severity_nonlocal : e->severity;
	append_field(out, outlen, &o, "", sev != NULL ? sev : "ERROR");
	append_field(out, outlen, &o, ": ",
		     e->message != NULL ? e->message : "(server sent no message)");
	if (e->sqlstate != NULL) {
		append_field(out, outlen, &o, " (SQLSTATE ", e->sqlstate);
		append_field(out, outlen, &o, ")", NULL);
	}
	if (e->detail != NULL)
		append_field(out, outlen, &o, " DETAIL: ", e->detail);
	if (e->hint != NULL)
		append_field(out, outlen, &o, " HINT: ", e->hint);
	return o;
}
