/*
 * hba.h - parse pg_hba.conf and write czctl's managed block into it.
 *
 * Pure text in, text out: the caller reads and writes the file.
 *
 * pg_hba.conf is first-match (PostgreSQL docs, "The pg_hba.conf File"): the
 * first record whose connection type, database, user and client address match
 * the connection decides; later records are never consulted.  The managed
 * block is delimited by the marker lines CZPG_HBA_BEGIN / CZPG_HBA_END.
 * Re-running replaces it (never duplicates it) and every byte outside it is
 * kept as it was, CRLF line ends, tabs, comments and a missing final newline
 * included.  The single exception: when the block is appended after a last
 * line that has no line end, a line end is added to that line (the block is
 * written with the file's own line-end style).
 *
 * The two modes and where the block goes:
 *
 *   transition   hostssl <db> <roles> <cidr> scram-sha-256
 *                host    <db> <roles> <cidr> scram-sha-256
 *       Appended at the END of the file.  Every existing record keeps
 *       precedence, so the application's current (plaintext) host line stays
 *       above the new lines and keeps deciding how it authenticates: the step
 *       is non-breaking.  The block only adds SCRAM access where no earlier
 *       record matched.  Existing records that match the CIDR first are
 *       reported as "decides before the block".
 *
 *   harden       hostssl   <db>            <roles> <cidr> scram-sha-256
 *                hostnossl all,replication all     <cidr> reject
 *       Placed immediately BEFORE the first record outside the block that
 *       could match a TCP connection from any address in the CIDR: a host,
 *       hostssl, hostnossl, hostgssenc or hostnogssenc record whose address
 *       is `all`, a hostname, samehost/samenet, or a network overlapping the
 *       CIDR, and any include directive (its contents are unseen).  When no
 *       such record exists the block is appended at the end.  So every
 *       non-TLS connection from the CIDR (plaintext or GSSAPI-encrypted,
 *       ordinary or physical replication) meets the reject before any other
 *       record can admit it, whatever the file holds; `local` records are
 *       untouched and unaffected.  Records after the block that would have
 *       admitted plaintext from the CIDR are reported as shadowed.
 *
 * Because placement is computed on the file with the old block removed, the
 * result depends only on the bytes outside the block and the parameters:
 * running twice gives byte-identical output, and transition -> harden ->
 * transition gives the same file as the first transition.
 *
 * Tokens follow PostgreSQL's pg_hba lexer: whitespace separates fields,
 * commas separate the items of one field, double quotes quote (a doubled
 * quote inside is a literal quote), `#` outside quotes starts a comment.  A
 * backslash at the end of a line joins the next line (PostgreSQL 16; harmless
 * on 15, where such lines are rare).
 */
#ifndef CZPG_HBA_H
#define CZPG_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Marker lines.  A line is a marker when, after leading blanks, it starts
 * with CZPG_HBA_BEGIN_PREFIX / CZPG_HBA_END_PREFIX. */
#define CZPG_HBA_BEGIN "# BEGIN czctl postgres tls (managed block: do not edit)"
#define CZPG_HBA_END "# END czctl postgres tls"
#define CZPG_HBA_BEGIN_PREFIX "# BEGIN czctl postgres tls"
#define CZPG_HBA_END_PREFIX "# END czctl postgres tls"

/* Hard limits on what this module parses. */
#define CZPG_HBA_MAX_BYTES ((size_t)8 << 20) /* whole file */
#define CZPG_HBA_MAX_LINES 200000            /* physical lines */
#define CZPG_HBA_MAX_TOKENS 1024             /* tokens in one record */
#define CZPG_HBA_MAX_ROLES 64                /* roles in the managed block */
#define CZPG_HBA_NAME_MAX 63                 /* NAMEDATALEN - 1 */

enum czpg_hba_mode {
	CZPG_HBA_MODE_NONE = 0,   /* no managed block */
	CZPG_HBA_MODE_TRANSITION, /* hostssl + host lines */
	CZPG_HBA_MODE_HARDEN,     /* hostssl + hostnossl reject */
	CZPG_HBA_MODE_UNKNOWN,    /* a block whose contents match neither */
};

/* "none", "transition", "harden", "unknown". */
const char *czpg_hba_mode_name(enum czpg_hba_mode m);
/* Parses "transition" / "harden"; returns 0, or -1 for anything else. */
int czpg_hba_mode_parse(const char *s, enum czpg_hba_mode *out);

/* ---------------------------------------------------------------- values */

/* An IPv4 or IPv6 network. */
struct czpg_hba_cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network address (4 bytes used for AF_INET) */
	unsigned prefix;  /* prefix length, 0..32 or 0..128 */
};

/*
 * Parses "a.b.c.d/n" or "ipv6/n".  The prefix length is required and must be
 * in range; host bits below it must be zero: "10.20.1.2/24" is refused with a
 * sentence naming 10.20.1.0/24 (the network) and 10.20.1.2/32 (the host).
 * Returns 0 or -1 with err set.
 */
int czpg_hba_cidr_parse(const char *text, struct czpg_hba_cidr *out, char *err, size_t errlen);

/* Writes the canonical text ("10.20.1.2/32", "::1/128") into buf; returns
 * 0, or -1 when len is too small (use 64). */
int czpg_hba_cidr_format(const struct czpg_hba_cidr *c, char *buf, size_t len);

/*
 * Checks a role or database name for the managed block: not empty, at most
 * CZPG_HBA_NAME_MAX bytes, and no whitespace, comma, double quote or other
 * control character (newline, NUL can't be in a C string).  Returns 0 or -1
 * with err naming the value's problem.
 */
int czpg_hba_name_check(const char *name, char *err, size_t errlen);

/*
 * Writes name as a pg_hba token that means exactly that role/database:
 * double-quoted when it is not all lower-case [a-z0-9_$] starting with a
 * letter or underscore, or when it is a keyword (all, sameuser, samerole,
 * samegroup, replication) or starts with + or @ (group / file syntax).
 * Returns the length written, or -1 when name fails czpg_hba_name_check or
 * outlen is too small (CZPG_HBA_NAME_MAX + 3 is always enough).
 */
int czpg_hba_quote_name(const char *name, char *out, size_t outlen);

/* ---------------------------------------------------------------- parse */

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

/* A connection to test against the file (first-match evaluation). */
struct czpg_hba_conn {
	bool ssl;         /* TLS connection (else plaintext; GSSAPI not modelled) */
	bool replication; /* physical replication connection */
	const char *database;
	const char *user;
	const char *addr; /* client IP address text, "10.20.1.2" or "::1" */
};

/*
 * Index of the line that decides conn: the first record that matches it, or
 * -1 when none does (PostgreSQL then rejects).  Records whose match can't be
 * known from the text alone (hostnames, samehost/samenet, +group, @file,
 * samerole, include directives, unparsable records) count as matching and set
 * *uncertain (may be NULL) -- a conservative answer for a guarantee.
 */
long czpg_hba_first_match(const struct czpg_hba_file *f, const struct czpg_hba_conn *conn,
			  bool *uncertain);

/* ---------------------------------------------------------------- plan */

struct czpg_hba_params {
	enum czpg_hba_mode mode;  /* TRANSITION or HARDEN */
	const char *cidr;         /* the allowed application CIDR, "10.20.1.2/32" */
	const char *const *roles; /* one or more role names */
	size_t n_roles;
	const char *database; /* NULL or "all": the keyword all; else a literal name */
};

struct czpg_hba_plan; /* opaque */

/*
 * Validates params, parses text, and computes the new file.
 * Returns 0 and *out (free with czpg_hba_plan_free), or -1 with err set:
 * a bad parameter (naming the value), or a parse error (czpg_hba_parse).
 */
int czpg_hba_plan(const char *text, size_t len, const struct czpg_hba_params *params,
		  struct czpg_hba_plan **out, char *err, size_t errlen);
void czpg_hba_plan_free(struct czpg_hba_plan *p); /* NULL-safe */

/* The new file content (NUL-terminated; *len may be NULL). */
const char *czpg_hba_plan_output(const struct czpg_hba_plan *p, size_t *len);
/* True when the output differs from the input. */
bool czpg_hba_plan_changed(const struct czpg_hba_plan *p);
/* The managed block alone, markers included, with the file's line ends. */
const char *czpg_hba_plan_block(const struct czpg_hba_plan *p);
/* 1-based line of the BEGIN marker in the output. */
unsigned czpg_hba_plan_block_line(const struct czpg_hba_plan *p);
/* The mode of the block found in the input (NONE if there was none). */
enum czpg_hba_mode czpg_hba_plan_previous_mode(const struct czpg_hba_plan *p);
/*
 * Human explanation for dry-run output: what the block adds, where it goes
 * and why, which existing records decide before it or are shadowed by it.
 * Several lines, each ending in '\n'.  Lives as long as p.
 */
const char *czpg_hba_plan_explain(const struct czpg_hba_plan *p);
/* Warnings (one sentence each) also included in the explanation. */
size_t czpg_hba_plan_nwarnings(const struct czpg_hba_plan *p);
const char *czpg_hba_plan_warning(const struct czpg_hba_plan *p, size_t i);

/*
 * Removes the managed block (rollback).  Returns 0 with a malloc'd
 * NUL-terminated copy of text without the block in *out (caller frees) and
 * its length in *out_len (may be NULL); or -1 with err set (parse errors).
 * Text without a block comes back unchanged.
 */
int czpg_hba_remove_block(const char *text, size_t len, char **out, size_t *out_len, char *err,
			  size_t errlen);

#endif
