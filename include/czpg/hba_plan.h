/*
 * hba_plan.h - write czctl's managed block into pg_hba.conf.
 *
 * Pure text in, text out: the caller reads and writes the file.
 *
 * pg_hba.conf is first-match (czpg/hba_eval.h): the first record that matches
 * a connection decides, so where the block goes decides what it does.  The
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
 */
#ifndef CZPG_HBA_PLAN_H
#define CZPG_HBA_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "czpg/hba_parse.h"
#include "czpg/hba_values.h"

#define CZPG_HBA_MAX_ROLES 64 /* roles in the managed block */

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
