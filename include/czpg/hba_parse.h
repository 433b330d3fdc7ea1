/*
 * hba_parse.h - the pg_hba.conf parser: one entry per logical line (record,
 * comment or blank), the record's fields, and where czctl's managed block is.
 * Pure text in (the caller reads the file), parsed lines out.
 *
 * Tokens follow PostgreSQL's pg_hba lexer: whitespace separates fields,
 * commas separate the items of one field, double quotes quote (a doubled
 * quote inside is a literal quote), `#` outside quotes starts a comment.  A
 * backslash at the end of a line joins the next line (PostgreSQL 16; harmless
 * on 15, where such lines are rare).
 */
#ifndef CZPG_HBA_PARSE_H
#define CZPG_HBA_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/hba_values.h"

/* Marker lines.  A line is a marker when, after leading blanks, it starts
 * with CZPG_HBA_BEGIN_PREFIX / CZPG_HBA_END_PREFIX. */
#define CZPG_HBA_BEGIN "# BEGIN czctl postgres tls (managed block: do not edit)"
#define CZPG_HBA_END "# END czctl postgres tls"
#define CZPG_HBA_BEGIN_PREFIX "# BEGIN czctl postgres tls"
#define CZPG_HBA_END_PREFIX "# END czctl postgres tls"

/* Hard limits on what the parser reads. */
#define CZPG_HBA_MAX_BYTES ((size_t)8 << 20) /* whole file */
#define CZPG_HBA_MAX_LINES 200000            /* physical lines */
#define CZPG_HBA_MAX_TOKENS 1024             /* tokens in one record */

enum czpg_hba_type {
	CZPG_HBA_BLANK = 0, /* empty or comment-only line */
	CZPG_HBA_LOCAL,
	CZPG_HBA_HOST,
	CZPG_HBA_HOSTSSL,
	CZPG_HBA_HOSTNOSSL,
	CZPG_HBA_HOSTGSSENC,
	CZPG_HBA_HOSTNOGSSENC,
	CZPG_HBA_INCLUDE, /* include, include_if_exists, include_dir (PG 16+) */
	CZPG_HBA_OTHER,   /* a record this parser doesn't understand */
};

enum czpg_hba_addr_kind {
	CZPG_HBA_ADDR_NONE = 0, /* local records, blanks */
	CZPG_HBA_ADDR_NET,      /* address/prefix or address + mask */
	CZPG_HBA_ADDR_ALL,
	CZPG_HBA_ADDR_SAMEHOST,
	CZPG_HBA_ADDR_SAMENET,
	CZPG_HBA_ADDR_HOSTNAME, /* resolved at connect time: may match anything */
	CZPG_HBA_ADDR_BAD,      /* unparsable address field */
};

struct czpg_hba_token {
	char *text;  /* quotes removed */
	bool quoted; /* was (partly) quoted: never a keyword */
};

/* One logical line: a record, a comment or a blank line. */
struct czpg_hba_line {
	unsigned lineno; /* 1-based physical line where it starts */
	unsigned nphys;  /* physical lines it spans (continuations) */
	size_t off, len; /* its bytes in the text, line end(s) included */
	enum czpg_hba_type type;
	bool in_block; /* a managed-block line, markers included */
	/* database and user items (comma lists expanded); empty for non-records */
	struct czpg_hba_token *db, *user;
	size_t n_db, n_user;
	enum czpg_hba_addr_kind addr_kind;
	int family;                 /* for ADDR_NET: AF_INET or AF_INET6 */
	uint8_t addr[16], mask[16]; /* for ADDR_NET */
	char *method;               /* auth method token, or NULL */
};

struct czpg_hba_file; /* opaque: parsed lines plus the block's position */

/*
 * Parses pg_hba.conf text (len bytes, need not be NUL-terminated).
 * Returns 0 and *out (free with czpg_hba_file_free), or -1 with err set:
 * input over a limit, or corrupted markers -- two BEGIN lines, an END without
 * BEGIN, or a BEGIN without END -- named with their line numbers.  Records
 * this parser doesn't understand are kept as CZPG_HBA_OTHER, not errors.
 */
int czpg_hba_parse(const char *text, size_t len, struct czpg_hba_file **out, char *err,
		   size_t errlen);
void czpg_hba_file_free(struct czpg_hba_file *f); /* NULL-safe */

size_t czpg_hba_file_nlines(const struct czpg_hba_file *f);
/* Line i (0-based, < nlines); the pointer lives as long as f. */
const struct czpg_hba_line *czpg_hba_file_line(const struct czpg_hba_file *f, size_t i);
/* Mode of the managed block in f (NONE when there is none). */
enum czpg_hba_mode czpg_hba_file_mode(const struct czpg_hba_file *f);

/*
 * Mode of the managed block in pg_hba.conf text, for `status`.
 * Returns 0 and *mode, or -1 with err set (same errors as czpg_hba_parse).
 */
int czpg_hba_block_mode(const char *text, size_t len, enum czpg_hba_mode *mode, char *err,
			size_t errlen);

#endif
