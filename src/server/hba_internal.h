/*
 * hba_internal.h - what the four pg_hba.conf sources (hba_values.c,
 * hba_parse.c, hba_eval.c, hba_plan.c) share and nobody else sees: the
 * parsed file's layout and a few small helpers.
 */
#ifndef CZPG_HBA_INTERNAL_H
#define CZPG_HBA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "czpg/buf.h"
#include "czpg/hba_parse.h"

struct czpg_hba_file {
	struct czpg_hba_line *lines;
	size_t n, cap;
	const char *text; /* borrowed during parse only */
	size_t text_len;
	bool has_block;
	size_t block_off, block_end;      /* byte range of the block, END's line end included */
	unsigned block_first, block_last; /* physical line numbers of BEGIN and END */
	enum czpg_hba_mode mode;
	bool crlf;          /* line-end style to write */
	bool ends_with_eol; /* text is empty or ends in '\n' */
};

/* hba_values.c: addresses */

/* Bytes of an address of family (4 for AF_INET, else 16). */
size_t czpg_hba_addr_len(int family);
/* The netmask of a prefix length, in the first czpg_hba_addr_len(family) bytes. */
void czpg_hba_prefix_mask(int family, unsigned prefix, uint8_t mask[16]);
/* An IP literal's address family (AF_INET, AF_INET6) and bytes, or 0. */
int czpg_hba_ip_family(const char *s, uint8_t out[16]);

/* hba_parse.c: text */

/* The blanks that separate pg_hba fields. */
bool czpg_hba_is_blank(char c);
/* Is t the unquoted keyword kw? */
bool czpg_hba_tok_is(const struct czpg_hba_token *t, const char *kw);
/*
 * Content length of the physical line at off (its line end, "\n" or "\r\n",
 * excluded) and in *next the offset after its line end.
 */
size_t czpg_hba_phys_line(const char *text, size_t len, size_t off, size_t *next);
/* Detaches a wbuf's contents as a NUL-terminated string (NULL on error; w is freed). */
char *czpg_hba_wbuf_take(struct czpg_wbuf *w, size_t *len);

#endif
