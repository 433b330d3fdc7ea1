/*
 * fuzz_hba_plan.c - libFuzzer target for the managed-block planner
 * (czpg/hba_plan.h) over a parsed pg_hba.conf and fuzzed parameters.
 *
 * Input: one flags byte (bit 0: harden, bits 1-2: roles - 1, bit 3: a
 * literal database), then NUL-terminated fields -- the CIDR, each role, the
 * database when bit 3 is set -- and the rest is the file.  When the plan
 * succeeds: the output parses with a block of the requested mode at the
 * line the plan names; planning the output again changes nothing;
 * removing the block gives the input without its old block (plus at most
 * the line end added before an appended block); and in harden mode a
 * non-TLS connection from the CIDR meets the block's reject first.  The
 * planner's own self-check failing (an error that starts "internal error")
 * is a crash here.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/hba_eval.h"
#include "czpg/hba_parse.h"
#include "czpg/hba_plan.h"
#include "czpg/hba_values.h"

/* The next NUL-terminated field of data, or NULL when there is none. */
static const char *next_field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
	const char *s = (const char *)*p;

	if (nul == NULL)
		return NULL;
	*p = nul + 1;
	return s;
}

/* Every non-TLS connection of each role from the CIDR's network address meets the reject. */
static void check_harden(const struct czpg_hba_file *o, const struct czpg_hba_params *pa)
{
	struct czpg_hba_cidr c;
	char addr[64], *slash;
	size_t i, k;

	if (czpg_hba_cidr_parse(pa->cidr, &c, NULL, 0) < 0 ||
	    czpg_hba_cidr_format(&c, addr, sizeof(addr)) < 0)
		abort();
	slash = strchr(addr, '/');
	*slash = '\0';
	for (i = 0; i < pa->n_roles; i++) {
		for (k = 0; k < 2; k++) {
			struct czpg_hba_conn conn = {.ssl = false,
						     .replication = k == 1,
						     .database = pa->database ? pa->database : "x",
						     .user = pa->roles[i],
						     .addr = addr};
			long m = czpg_hba_first_match(o, &conn, NULL);
			const struct czpg_hba_line *l =
			    m >= 0 ? czpg_hba_file_line(o, (size_t)m) : NULL;

			if (l == NULL || !l->in_block || l->type != CZPG_HBA_HOSTNOSSL)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1, *end = data + size;
	const char *roles[4];
	struct czpg_hba_params pa = {0};
	struct czpg_hba_plan *plan = NULL, *again = NULL;
	struct czpg_hba_file *o = NULL, *in = NULL;
	const char *text, *out, *again_out;
	char err[1024], *removed = NULL, *stripped = NULL;
	size_t len, out_len, again_len, rlen, slen, i, line;
	unsigned flags;

	if (size < 1)
		return 0;
	flags = data[0];
	pa.mode = (flags & 1) ? CZPG_HBA_MODE_HARDEN : CZPG_HBA_MODE_TRANSITION;
	pa.n_roles = ((flags >> 1) & 3) + 1;
	if ((pa.cidr = next_field(&p, end)) == NULL)
		return 0;
	for (i = 0; i < pa.n_roles; i++)
		if ((roles[i] = next_field(&p, end)) == NULL)
			return 0;
	pa.roles = roles;
	if ((flags & 8) && (pa.database = next_field(&p, end)) == NULL)
		return 0;
	text = (const char *)p;
	len = (size_t)(end - p);

	err[0] = '\0';
	if (czpg_hba_plan(text, len, &pa, &plan, err, sizeof(err)) < 0) {
		if (plan != NULL || strncmp(err, "internal error", 14) == 0)
			abort();
		return 0;
	}
	out = czpg_hba_plan_output(plan, &out_len);
	if (out == NULL || strlen(out) != out_len || czpg_hba_plan_explain(plan) == NULL ||
	    czpg_hba_plan_block(plan) == NULL)
		abort();
	/* the output parses, with a block of this mode where the plan says */
	if (czpg_hba_parse(out, out_len, &o, err, sizeof(err)) < 0 ||
	    czpg_hba_file_mode(o) != pa.mode)
		abort();
	for (i = 0, line = 0; i < czpg_hba_file_nlines(o); i++) {
		const struct czpg_hba_line *l = czpg_hba_file_line(o, i);

		if (l->in_block) {
			line = l->lineno;
			break;
		}
	}
	if (line != czpg_hba_plan_block_line(plan) ||
	    strncmp(out + czpg_hba_file_line(o, i)->off, CZPG_HBA_BEGIN, strlen(CZPG_HBA_BEGIN)) !=
		0)
		abort();
	if (pa.mode == CZPG_HBA_MODE_HARDEN)
		check_harden(o, &pa);
	/* planning again changes nothing */
	if (czpg_hba_plan(out, out_len, &pa, &again, err, sizeof(err)) < 0)
		abort();
	again_out = czpg_hba_plan_output(again, &again_len);
	if (czpg_hba_plan_changed(again) || again_len != out_len ||
	    memcmp(again_out, out, out_len) != 0 || czpg_hba_plan_previous_mode(again) != pa.mode)
		abort();
	/* outside the block, the input is kept (a line end may be added before it) */
	if (czpg_hba_remove_block(out, out_len, &removed, &rlen, err, sizeof(err)) < 0 ||
	    czpg_hba_remove_block(text, len, &stripped, &slen, err, sizeof(err)) < 0)
		abort();
	if (rlen < slen || rlen > slen + 2 || memcmp(removed, stripped, slen) != 0 ||
	    (rlen > slen && strspn(removed + slen, "\r\n") != rlen - slen))
		abort();
	if (czpg_hba_parse(text, len, &in, err, sizeof(err)) < 0)
		abort();
	czpg_hba_file_free(in);
	czpg_hba_file_free(o);
	czpg_hba_plan_free(again);
	czpg_hba_plan_free(plan);
	free(removed);
	free(stripped);
	return 0;
}
