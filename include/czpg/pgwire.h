/*
 * pgwire.h - PostgreSQL frontend/backend protocol version 3.0 codec.
 *
 * Implements the message layer of PostgreSQL docs chapter 55 "Frontend/Backend
 * Protocol" (sections "Message Flow" and "Message Formats"), and nothing
 * else: it never touches a socket, a TLS object or a clock.
 *
 * Three parts:
 *
 *   Builders    append one frontend message to a struct czpg_wbuf.  Each
 *               returns 0, or -1 when an argument is invalid or the buffer's
 *               cap is hit; on -1 the buffer holds exactly what it held
 *               before the call (never half a message), and a cap or
 *               allocation failure also leaves the buffer's sticky err set.
 *
 *   Parser      struct czpg_pgwire_parser: feed it backend bytes split
 *               anywhere, take whole messages out as zero-copy views.
 *
 *   Decoders    czpg_pgwire_decode_*: typed, zero-copy reads of one message
 *               view.  Every length and count is checked against the
 *               message body, every string must end with a NUL inside the
 *               body, and trailing bytes are an error.  Pointers they return
 *               point into the message body: valid as long as the view is.
 *               Each returns 0, or -1 with one sentence in err (err may be
 *               NULL, errlen 0).
 *
 * Strings coming from the server (error messages, parameter values) are
 * untrusted: print them only through czpg_pgwire_sanitize() or
 * czpg_pgwire_error_format().
 */
#ifndef CZPG_PGWIRE_H
#define CZPG_PGWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/buf.h"

/* ---- Constants ---------------------------------------------------------- */

#define CZPG_PGWIRE_PROTOCOL_3_0 196608u       /* 3 << 16 | 0 */
#define CZPG_PGWIRE_SSL_REQUEST_CODE 80877103u /* 1234 << 16 | 5679 */

/* Default per-message cap of the parser; PostgreSQL's own ceiling is 1 GiB. */
#define CZPG_PGWIRE_DEFAULT_MAX_MSG ((size_t)16 << 20)
/* Bytes the parser may hold beyond one maximal message (see _feed). */
#define CZPG_PGWIRE_FEED_SLACK ((size_t)1 << 20)
/* Most SASL mechanisms an AuthenticationSASL message may list. */
#define CZPG_PGWIRE_MAX_SASL_MECHS 16
/*
 * The decoders' and the parser's sentences are shorter than this: a buffer
 * of this size holds any of them whole.
 */
#define CZPG_PGWIRE_ERR_MAX 256
/* PostgreSQL's own limit on columns in a result (MaxTupleAttributeNumber). */
#define CZPG_PGWIRE_MAX_COLUMNS 1664
/* Parse/Bind carry Int16 counts; PostgreSQL reads them as unsigned. */
#define CZPG_PGWIRE_MAX_PARAMS 65535

/* Backend message type bytes. */
#define CZPG_PGWIRE_MSG_AUTH 'R'
#define CZPG_PGWIRE_MSG_PARAMETER_STATUS 'S'
#define CZPG_PGWIRE_MSG_BACKEND_KEY 'K'
#define CZPG_PGWIRE_MSG_READY 'Z'
#define CZPG_PGWIRE_MSG_ROW_DESCRIPTION 'T'
#define CZPG_PGWIRE_MSG_DATA_ROW 'D'
#define CZPG_PGWIRE_MSG_COMMAND_COMPLETE 'C'
#define CZPG_PGWIRE_MSG_EMPTY_QUERY 'I'
#define CZPG_PGWIRE_MSG_ERROR 'E'
#define CZPG_PGWIRE_MSG_NOTICE 'N'
#define CZPG_PGWIRE_MSG_PARSE_COMPLETE '1'
#define CZPG_PGWIRE_MSG_BIND_COMPLETE '2'
#define CZPG_PGWIRE_MSG_CLOSE_COMPLETE '3'
#define CZPG_PGWIRE_MSG_NO_DATA 'n'
#define CZPG_PGWIRE_MSG_PORTAL_SUSPENDED 's'
#define CZPG_PGWIRE_MSG_PARAMETER_DESCRIPTION 't'
#define CZPG_PGWIRE_MSG_NOTIFICATION 'A'
#define CZPG_PGWIRE_MSG_NEGOTIATE_PROTOCOL 'v'

/* Authentication request codes (the Int32 after 'R'). */
#define CZPG_PGWIRE_AUTH_OK 0
#define CZPG_PGWIRE_AUTH_KERBEROS_V5 2
#define CZPG_PGWIRE_AUTH_CLEARTEXT 3
#define CZPG_PGWIRE_AUTH_MD5 5
#define CZPG_PGWIRE_AUTH_GSS 7
#define CZPG_PGWIRE_AUTH_GSS_CONTINUE 8
#define CZPG_PGWIRE_AUTH_SSPI 9
#define CZPG_PGWIRE_AUTH_SASL 10
#define CZPG_PGWIRE_AUTH_SASL_CONTINUE 11
#define CZPG_PGWIRE_AUTH_SASL_FINAL 12

/* ---- Frontend message builders ------------------------------------------ */
/*
 * All return 0, or -1 leaving w as it was (see the file comment).  Strings
 * are C strings written with their NUL; NULL for a name means "" (the
 * unnamed statement or portal).
 */

/* SSLRequest: Int32 8, Int32 80877103.  No type byte. */
int czpg_pgwire_ssl_request(struct czpg_wbuf *w);

/*
 * StartupMessage for protocol 3.0.  params is a NULL-terminated list of
 * alternating key, value strings, e.g. {"user", "app", "database", "db",
 * NULL}.  "user" is required by the server but not checked here.  -1 on an
 * empty key, a NULL value, or a NULL params.
 */
int czpg_pgwire_startup(struct czpg_wbuf *w, const char *const *params);

/*
 * SASLInitialResponse ('p'): mechanism name, then Int32 length of data and
 * data; data == NULL writes length -1 (no initial response).  -1 on an
 * empty mechanism or len > INT32_MAX.  The message may hold secrets: the
 * caller wipes w (czpg_wbuf_free_secure) when done.
 */
int czpg_pgwire_sasl_initial_response(struct czpg_wbuf *w, const char *mechanism, const void *data,
				      size_t len);

/* SASLResponse ('p'): the raw data, no length word of its own. */
int czpg_pgwire_sasl_response(struct czpg_wbuf *w, const void *data, size_t len);

/* PasswordMessage ('p'): password as a C string.  Caller wipes w later. */
int czpg_pgwire_password(struct czpg_wbuf *w, const char *password);

/* Query ('Q'): simple-query protocol. */
int czpg_pgwire_query(struct czpg_wbuf *w, const char *sql);

/*
 * Parse ('P'): statement name (NULL/"" = unnamed), query, and nparams
 * parameter type OIDs (0 = let the server infer).  param_oids may be NULL
 * only when nparams is 0.  -1 when nparams > CZPG_PGWIRE_MAX_PARAMS.
 */
int czpg_pgwire_parse(struct czpg_wbuf *w, const char *stmt, const char *query, size_t nparams,
		      const uint32_t *param_oids);

/*
 * Bind ('B'): portal and statement names (NULL/"" = unnamed), nparams
 * parameter values, all in text format (parameter format code count 0).
 * values[i] == NULL sends SQL NULL (length -1).  lengths may be NULL, then
 * each value is a C string and strlen() is used; otherwise lengths[i] bytes
 * of values[i] are sent.  Then nresult_formats result format codes (0 text,
 * 1 binary); 0 means "all text".  -1 when a count exceeds
 * CZPG_PGWIRE_MAX_PARAMS or a value is longer than INT32_MAX.
 */
int czpg_pgwire_bind(struct czpg_wbuf *w, const char *portal, const char *stmt, size_t nparams,
		     const char *const *values, const size_t *lengths, size_t nresult_formats,
		     const int16_t *result_formats);

/* Describe ('D'): kind 'S' (statement) or 'P' (portal), then the name. */
int czpg_pgwire_describe(struct czpg_wbuf *w, char kind, const char *name);

/* Close ('C'): kind 'S' (statement) or 'P' (portal), then the name. */
int czpg_pgwire_close(struct czpg_wbuf *w, char kind, const char *name);

/* Execute ('E'): portal name, then the row limit (0 = no limit). */
int czpg_pgwire_execute(struct czpg_wbuf *w, const char *portal, uint32_t max_rows);

/* Sync ('S'), Flush ('H'), Terminate ('X'): type byte and Int32 4. */
int czpg_pgwire_sync(struct czpg_wbuf *w);
int czpg_pgwire_flush(struct czpg_wbuf *w);
int czpg_pgwire_terminate(struct czpg_wbuf *w);

/* ---- Incremental backend-message parser ---------------------------------- */

/* One backend message: type byte and body (the bytes after the length word). */
struct czpg_pgwire_msg {
	uint8_t type;
	const uint8_t *body;
	size_t len;
};

/*
 * Fields are private to pgwire.c; the struct is public so that callers can
 * embed it without an allocation.
 */
struct czpg_pgwire_parser {
	struct czpg_wbuf in; /* bytes fed, not yet returned by _next (data/len) */
	size_t max_msg;      /* largest accepted length word (includes its own 4 bytes) */
	bool failed;
	char err[CZPG_PGWIRE_ERR_MAX];
};

/*
 * Starts an empty parser (no allocation yet).  max_msg_len is the largest
 * length word accepted, i.e. body + 4 bytes; 0 means
 * CZPG_PGWIRE_DEFAULT_MAX_MSG (16 MiB); values below 4 act as 4 and values
 * above 1 GiB (PostgreSQL's own limit) as 1 GiB.  Free with
 * czpg_pgwire_parser_free.
 */
void czpg_pgwire_parser_init(struct czpg_pgwire_parser *p, size_t max_msg_len);

/*
 * Copies n bytes of server output into the parser.  Returns 0, or -1 when
 * the parser has failed before, memory runs out, or the bytes held would
 * exceed max_msg_len + 1 + CZPG_PGWIRE_FEED_SLACK (call _next until it
 * returns 0 between feeds and this cannot happen with reads of up to 1 MiB).
 * The buffer grows on demand up to that bound, never to a size the server
 * merely claims.
 * -1 leaves the parser failed.  Invalidates the last message view.
 */
int czpg_pgwire_parser_feed(struct czpg_pgwire_parser *p, const void *data, size_t n);

/*
 * Takes the next whole message.  Returns 1 and fills *msg (a view into the
 * parser's buffer, valid until the next _feed, _next or _free), 0 when more
 * bytes are needed, -1 on a protocol error: a length word below 4, with the
 * high bit set, or above the cap (seen from the 5-byte header alone, before
 * any of the body is buffered or allocated).  After -1 the parser stays
 * failed: every later _feed and _next returns -1.  Unknown message types
 * are returned like any other; the caller decides.
 */
int czpg_pgwire_parser_next(struct czpg_pgwire_parser *p, struct czpg_pgwire_msg *msg);

/*
 * _feed and _next in one step, without the copy when it is not needed:
 * takes the next whole message from the bytes held followed by the *n
 * bytes at *data.  When nothing is held, a whole message at *data is
 * returned as a view into data itself and *data, *n move past it; any
 * other bytes are fed (copied) first.  So once it returns 0 (more bytes
 * needed) every byte of data has been taken and data may be reused; a
 * view it returns is valid until the next call on p, and, if it points
 * into data, while data is.  Returns, checks and fails as _feed then
 * _next would.
 */
int czpg_pgwire_parser_next_in(struct czpg_pgwire_parser *p, const uint8_t **data, size_t *n,
			       struct czpg_pgwire_msg *msg);

/* Bytes fed but not yet returned as (part of) a message. */
size_t czpg_pgwire_parser_buffered(const struct czpg_pgwire_parser *p);

/* The failure sentence, or "" when the parser has not failed.  Never NULL. */
const char *czpg_pgwire_parser_error(const struct czpg_pgwire_parser *p);

/* Frees the buffer (wiped first: it may have held authentication data).  NULL-safe. */
void czpg_pgwire_parser_free(struct czpg_pgwire_parser *p);

/* ---- Typed decoders ----------------------------------------------------- */

/* A short English name for a backend message type ("RowDescription"), or "unknown". */
const char *czpg_pgwire_msg_name(uint8_t type);

/* Authentication ('R'). */
struct czpg_pgwire_auth {
	uint32_t code; /* CZPG_PGWIRE_AUTH_* */
	/*
	 * MD5: the 4-byte salt.  SASL_CONTINUE / SASL_FINAL / GSS_CONTINUE:
	 * the data.  SASL: the raw mechanism list.  Other codes: whatever
	 * followed the code (usually nothing).  NULL when len is 0.
	 */
	const uint8_t *data;
	size_t len;
	/* SASL only: the mechanism names in server order. */
	const char *mechs[CZPG_PGWIRE_MAX_SASL_MECHS];
	size_t nmechs;
};

/*
 * Decodes 'R'.  Exact lengths are enforced for OK, cleartext, MD5 (4-byte
 * salt) and SASL (non-empty names, terminated by an empty name, at most
 * CZPG_PGWIRE_MAX_SASL_MECHS of them, nothing after).  Codes it does not
 * interpret are returned with their data so the caller can refuse them.
 * On -1, out->code is UINT32_MAX (never mistaken for AuthenticationOk).
 */
int czpg_pgwire_decode_auth(const struct czpg_pgwire_msg *m, struct czpg_pgwire_auth *out,
			    char *err, size_t errlen);

/* 1 when a decoded AuthenticationSASL lists mechanism name exactly, else 0. */
int czpg_pgwire_auth_has_mechanism(const struct czpg_pgwire_auth *a, const char *name);

/* ParameterStatus ('S'): name and value. */
int czpg_pgwire_decode_parameter_status(const struct czpg_pgwire_msg *m, const char **name,
					const char **value, char *err, size_t errlen);

/* BackendKeyData ('K'): process id and 4-byte secret key (protocol 3.0). */
int czpg_pgwire_decode_backend_key(const struct czpg_pgwire_msg *m, uint32_t *pid, uint32_t *secret,
				   char *err, size_t errlen);

/* ReadyForQuery ('Z'): *status is 'I' (idle), 'T' (in a transaction) or 'E' (failed one). */
int czpg_pgwire_decode_ready(const struct czpg_pgwire_msg *m, char *status, char *err,
			     size_t errlen);

/* One RowDescription field. */
struct czpg_pgwire_field {
	const char *name;
	uint32_t table_oid; /* 0 when not a table column */
	int16_t attnum;     /* 0 when not a table column */
	uint32_t type_oid;
	int16_t typlen; /* negative = variable width */
	int32_t typmod;
	int16_t format; /* 0 text, 1 binary */
};

/*
 * RowDescription ('T') into fields[0..max_fields); *nfields gets the count.
 * -1 when the count is negative or above max_fields, or the body does not
 * hold exactly that many fields.
 */
int czpg_pgwire_decode_row_description(const struct czpg_pgwire_msg *m,
				       struct czpg_pgwire_field *fields, size_t max_fields,
				       size_t *nfields, char *err, size_t errlen);

/* One DataRow column value: null, or len bytes at data (no NUL terminator). */
struct czpg_pgwire_value {
	const uint8_t *data; /* NULL when null or len == 0 */
	size_t len;
	bool null;
};

/*
 * DataRow ('D') into vals[0..max_vals); *nvals gets the count.  -1 when the
 * count is negative or above max_vals, a length is below -1 or beyond the
 * body, or bytes are left over.
 */
int czpg_pgwire_decode_data_row(const struct czpg_pgwire_msg *m, struct czpg_pgwire_value *vals,
				size_t max_vals, size_t *nvals, char *err, size_t errlen);

/* CommandComplete ('C'): the command tag, e.g. "SELECT 1". */
int czpg_pgwire_decode_command_complete(const struct czpg_pgwire_msg *m, const char **tag,
					char *err, size_t errlen);

/*
 * The messages with an empty body: EmptyQueryResponse 'I', ParseComplete
 * '1', BindComplete '2', CloseComplete '3', NoData 'n', PortalSuspended
 * 's'.  -1 for any other type or a non-empty body.
 */
int czpg_pgwire_decode_empty(const struct czpg_pgwire_msg *m, char *err, size_t errlen);

/* ParameterDescription ('t') into oids[0..max_oids); *noids gets the count. */
int czpg_pgwire_decode_parameter_description(const struct czpg_pgwire_msg *m, uint32_t *oids,
					     size_t max_oids, size_t *noids, char *err,
					     size_t errlen);

/*
 * ErrorResponse ('E') and NoticeResponse ('N') fields by code; NULL when
 * absent.  Unknown codes are skipped; a repeated code keeps the last value.
 */
struct czpg_pgwire_error {
	const char *severity;          /* 'S', localized */
	const char *severity_nonlocal; /* 'V', never localized: ERROR, FATAL, ... */
	const char *sqlstate;          /* 'C' */
	const char *message;           /* 'M' */
	const char *detail;            /* 'D' */
	const char *hint;              /* 'H' */
	const char *position;          /* 'P' */
	const char *internal_position; /* 'p' */
	const char *internal_query;    /* 'q' */
	const char *where;             /* 'W' */
	const char *schema;            /* 's' */
	const char *table;             /* 't' */
	const char *column;            /* 'c' */
	const char *datatype;          /* 'd' */
	const char *constraint;        /* 'n' */
	const char *file;              /* 'F' */
	const char *line;              /* 'L' */
	const char *routine;           /* 'R' */
};

int czpg_pgwire_decode_error(const struct czpg_pgwire_msg *m, struct czpg_pgwire_error *out,
			     char *err, size_t errlen);

/*
 * Copies untrusted server text in to out (outlen bytes, always
 * NUL-terminated when outlen > 0) so it is safe for a terminal or a log:
 * C0 controls, DEL, bytes that are not valid UTF-8, C1 controls
 * (U+0080..U+009F) and bidirectional overrides are written as escapes
 * ("\n", "\x1b", "\u202e"); valid printable UTF-8 passes through.  Output
 * is cut at a whole character or escape.  Returns the length written.
 * in == NULL is treated as "".
 */
size_t czpg_pgwire_sanitize(const char *in, char *out, size_t outlen);

/*
 * One sanitized line for a user: "SEVERITY: message (SQLSTATE xxxxx)" then
 * " DETAIL: ..." and " HINT: ..." when present.  Returns the length written.
 */
size_t czpg_pgwire_error_format(const struct czpg_pgwire_error *e, char *out, size_t outlen);

#endif
