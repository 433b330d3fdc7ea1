/*
 * fuzz_hba_parse.c - libFuzzer target for the pg_hba.conf parser
 * (czpg/hba_parse.h) and the first-match evaluator over what it parsed
 * (czpg/hba_eval.h).
 *
 * The input is the file.  When it parses: the logical lines cover the text
 * exactly, in order, with increasing line numbers; every record's tokens
 * are strings; the managed block's mode agrees with czpg_hba_block_mode;
 * removing the block leaves a file that parses with no block; and the line
 * that decides a handful of connections is a record of the file.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "czpg/hba_eval.h"
#include "czpg/hba_parse.h"
#include "czpg/hba_plan.h"

static void check_lines(const struct czpg_hba_file *f, size_t size)
{
	size_t i, j, n = czpg_hba_file_nlines(f), off = 0;
	unsigned last = 0;

	for (i = 0; i < n; i++) {
		const struct czpg_hba_line *l = czpg_hba_file_line(f, i);

		if (l == NULL || l->off != off || l->len == 0 || l->nphys == 0 || l->lineno <= last)
			abort();
		off += l->len;
		last = l->lineno + l->nphys - 1;
		for (j = 0; j < l->n_db; j++)
			if (l->db[j].text == NULL)
				abort();
		for (j = 0; j < l->n_user; j++)
			if (l->user[j].text == NULL)
				abort();
		if (l->type == CZPG_HBA_BLANK && (l->n_db != 0 || l->method != NULL))
			abort();
	}
	if (off != size || czpg_hba_file_line(f, n) != NULL)
		abort();
}

static void check_eval(const struct czpg_hba_file *f)
{
	static const char *const addrs[] = {"10.20.1.2", "::1", "192.168.0.1", NULL};
	size_t a, k, n = czpg_hba_file_nlines(f);

	for (a = 0; a < sizeof(addrs) / sizeof(addrs[0]); a++) {
		for (k = 0; k < 4; k++) {
			struct czpg_hba_conn c = {.ssl = (k & 1) != 0,
						  .replication = (k & 2) != 0,
						  .database = "postgres",
						  .user = "app",
						  .addr = addrs[a]};
			bool unc = false;
			long m = czpg_hba_first_match(f, &c, &unc);

			if (m < -1 || m >= (long)n)
				abort();
			if (m >= 0 && czpg_hba_file_line(f, (size_t)m)->type == CZPG_HBA_BLANK)
				abort();
			if (m < 0 && unc)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct czpg_hba_file *f = NULL, *g = NULL;
	enum czpg_hba_mode mode;
	char err[512], *stripped = NULL;
	size_t slen = 0;
	int rc, rm;

	rc = czpg_hba_parse(text, size, &f, err, sizeof(err));
	if (czpg_hba_block_mode(text, size, &mode, err, sizeof(err)) != rc)
		abort();
	rm = czpg_hba_remove_block(text, size, &stripped, &slen, err, sizeof(err));
	if (rm != rc)
		abort();
	if (rc < 0) {
		if (f != NULL || stripped != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	check_lines(f, size);
	check_eval(f);
	if (czpg_hba_file_mode(f) != mode)
		abort();
	/* without its block the file parses, has no block, and is no longer than before */
	if (stripped == NULL || slen > size || strlen(stripped) != slen ||
	    czpg_hba_parse(stripped, slen, &g, err, sizeof(err)) < 0 ||
	    czpg_hba_file_mode(g) != CZPG_HBA_MODE_NONE)
		abort();
	if (mode == CZPG_HBA_MODE_NONE && (slen != size || memcmp(stripped, text, size) != 0))
		abort();
	czpg_hba_file_free(g);
	czpg_hba_file_free(f);
	free(stripped);
	return 0;
}
