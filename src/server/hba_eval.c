/*
 * hba_eval.c - the first-match evaluator (see czpg/hba_eval.h): which
 * record of a parsed pg_hba.conf decides a connection, with a third answer,
 * "maybe", for what the text alone cannot decide (hostnames, groups,
 * included files, records this parser does not understand).
 */
#include "czpg/hba_eval.h"

#include <string.h>
#include <sys/socket.h>

#include "hba_internal.h"

enum tri { NO = 0, YES, MAYBE };

static enum tri and3(enum tri a, enum tri b)
{
	if (a == NO || b == NO)
		return NO;
	return a == MAYBE || b == MAYBE ? MAYBE : YES;
}

static enum tri match_db(const struct czpg_hba_line *l, const struct czpg_hba_conn *c)
{
	enum tri r = NO;
	size_t i;

	for (i = 0; i < l->n_db && r != YES; i++) {
		const struct czpg_hba_token *t = &l->db[i];

		if (!t->quoted && t->text[0] == '@') {
			r = MAYBE;
		} else if (c->replication) {
			if (czpg_hba_tok_is(t, "replication"))
				r = YES;
		} else if (czpg_hba_tok_is(t, "all")) {
			r = YES;
		} else if (czpg_hba_tok_is(t, "sameuser")) {
			if (c->user != NULL && c->database != NULL &&
			    strcmp(c->user, c->database) == 0)
				r = YES;
		} else if (czpg_hba_tok_is(t, "samerole") || czpg_hba_tok_is(t, "samegroup")) {
			r = MAYBE;
		} else if (czpg_hba_tok_is(t, "replication")) {
			/* matches physical replication connections only */
		} else if (c->database != NULL && strcmp(t->text, c->database) == 0) {
			r = YES;
		}
	}
	return r;
}

static enum tri match_user(const struct czpg_hba_line *l, const struct czpg_hba_conn *c)
{
	enum tri r = NO;
	size_t i;

	for (i = 0; i < l->n_user && r != YES; i++) {
		const struct czpg_hba_token *t = &l->user[i];

		if (czpg_hba_tok_is(t, "all"))
			r = YES;
		else if (!t->quoted && (t->text[0] == '+' || t->text[0] == '@'))
			r = MAYBE;
		else if (c->user != NULL && strcmp(t->text, c->user) == 0)
			r = YES;
	}
	return r;
}

static enum tri match_addr(const struct czpg_hba_line *l, int family, const uint8_t a[16])
{
	size_t i;

	switch (l->addr_kind) {
	case CZPG_HBA_ADDR_ALL:
		return YES;
	case CZPG_HBA_ADDR_NET:
		if (l->family != family)
			return NO;
		for (i = 0; i < czpg_hba_addr_len(family); i++)
			if (((a[i] ^ l->addr[i]) & l->mask[i]) != 0)
				return NO;
		return YES;
	case CZPG_HBA_ADDR_NONE:
		return NO;
	default:
		return MAYBE;
	}
}

static enum tri match_type(enum czpg_hba_type t, bool ssl)
{
	switch (t) {
	case CZPG_HBA_HOST:
	case CZPG_HBA_HOSTNOGSSENC: /* GSSAPI encryption is not modelled: never used */
		return YES;
	case CZPG_HBA_HOSTSSL:
		return ssl ? YES : NO;
	case CZPG_HBA_HOSTNOSSL:
		return ssl ? NO : YES;
	case CZPG_HBA_INCLUDE:
	case CZPG_HBA_OTHER:
		return MAYBE;
	default:
		return NO;
	}
}

long czpg_hba_first_match(const struct czpg_hba_file *f, const struct czpg_hba_conn *conn,
			  bool *uncertain)
{
	uint8_t a[16];
	int family = conn->addr != NULL ? czpg_hba_ip_family(conn->addr, a) : 0;
	size_t i;

	if (uncertain != NULL)
		*uncertain = false;
	for (i = 0; i < f->n; i++) {
		const struct czpg_hba_line *l = &f->lines[i];
		enum tri r = match_type(l->type, conn->ssl);

		if (r == NO)
			continue;
		if (l->type != CZPG_HBA_INCLUDE && l->type != CZPG_HBA_OTHER) {
			r = and3(r, match_addr(l, family, a));
			r = and3(r, match_db(l, conn));
			r = and3(r, match_user(l, conn));
		}
		if (r == NO)
			continue;
		if (uncertain != NULL)
			*uncertain = r == MAYBE;
		return (long)i;
	}
	return -1;
}
