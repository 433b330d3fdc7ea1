/*
 * probe.c - `czctl postgres tls probe`: the scheduler that learns what TLS a
 * PostgreSQL box speaks with many short connections on one engine thread and
 * no password (see czpg/probe.h).
 *
 * Protocol references: PostgreSQL docs chapter 55 ("SSL Session Encryption",
 * "GSSAPI Session Encryption", "Start-up"; direct TLS with ALPN
 * "postgresql" in PostgreSQL 17), RFC 8446 / RFC 5246 (TLS 1.3 / 1.2
 * negotiation of versions, suites and groups), RFC 7301 (ALPN), RFC 6125
 * section 6 (host names against subjectAltName).
 *
 * Scheduling: each target owns a fixed array of tasks (one task = one
 * connection).  A task is started when its target has a free connection
 * slot; when its connection is released, the handler of its kind records
 * what it showed and appends the tasks that depended on it.  Targets are
 * admitted up to the concurrency cap; a per-target deadline fails whatever
 * is still open.
 *
 * A target may have alternative names (libpq's host list, one box): main is
 * started for each in turn until an address accepts the TCP connection;
 * only then do the other checks start, all to that address.
 *
 * What is offered lives in probe_suites.c, what a result means in
 * probe_findings.c, how it is printed in report/probe_report.c.
 */
#include "czpg/probe.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "czpg/conn.h"
#include "czpg/engine.h"
#include "czpg/errf.h"
#include "czpg/parse.h"
#include "czpg/pgwire.h"
#include "czpg/probe_findings.h"
#include "czpg/probe_report.h"
#include "probe_order.h"
#include "probe_suites.h"

#define PROBE_MAX_TASKS 256
#define PROBE_DEFAULT_TIMEOUT_MS 10000u
#define PROBE_DEFAULT_CONCURRENCY 64u
#define PROBE_MAX_SLOTS 8192u

/* ---- run state ------------------------------------------------------------ */

enum task_kind {
	T_MAIN = 0,
	T_PLAIN,
	T_GSSENC,
	T_DIRECT,
	T_VERIFY,
	T_VERSION, /* vi */
	T_SUITE,   /* vi, idx = index into the version's suites[] */
	T_GROUP,   /* idx = bit mask of group table entries offered; vi = version used */
	T_RANK,    /* vi, idx = enum czpg_probe_offer (probe_order.h) */
	T_ADMIN,   /* startup for database "pgbouncer" (over TLS when offered) */
	T_NKINDS,
};

struct target;

struct task {
	enum task_kind kind;
	int vi;
	int idx;
	struct czpg_tls_config *cfg; /* borrowed from the run's suites, unless cfg_owned */
	bool cfg_owned;
	struct czpg_conn *conn;
	int slot;
	bool started;
	bool done;
	struct target *t;
};

struct target {
	struct czpg_probe_result *res;
	size_t index;
	/* The box's names in order (a fleet line: one); main tries them until one answers. */
	const struct czpg_probe_target *alts;
	size_t nalts;
	size_t alt; /* the name main is trying, or that answered */
	/*
	 * Every address of the name being tried; main tries them in order, the
	 * rest use the one that answered.  The route adds up over the names.
	 */
	struct czpg_engine_addrs addrs;
	struct czpg_engine_route route;
	struct task tasks[PROBE_MAX_TASKS];
	size_t ntasks;
	size_t next;      /* first task not yet started */
	unsigned running; /* connections open */
	uint64_t start_ns;
	uint64_t deadline_ns;
	bool active;
	bool gate_open; /* main finished and the box is PostgreSQL */
	bool version_done[CZPG_PROBE_NVERSIONS];
	unsigned suites_pending[CZPG_PROBE_NVERSIONS];
	bool suites_spawned[CZPG_PROBE_NVERSIONS];
	struct czpg_probe_order order[CZPG_PROBE_NVERSIONS];
	bool groups_spawned;
	int group_vi;
	bool expired; /* deadline passed: nothing new starts */
};

struct run {
	const struct czpg_probe_options *opt;
	const char *user;
	unsigned per_target;
	unsigned timeout_ms;
	unsigned nslots;
	struct czpg_engine *engine;
	struct czpg_probe_suites suites; /* TLS configurations shared by every target */
};

/* What one released connection showed, worked out once for every handler. */
struct seen {
	struct czpg_conn *c;
	struct czpg_tls *tls;    /* NULL without TLS */
	bool done;               /* the connection reached its goal */
	bool hs;                 /* a TLS handshake completed */
	bool refused;            /* it failed during TLS: a refusal, not a failure to ask */
	enum czpg_probe_tri tri; /* hs: YES; refused: NO; else UNKNOWN */
};

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static struct task *add_task(struct target *t, enum task_kind kind, int vi, int idx,
			     struct czpg_tls_config *cfg)
{
	struct task *k = NULL;

	if (t->ntasks == PROBE_MAX_TASKS || t->expired)
		goto out;
	k = &t->tasks[t->ntasks++];
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->vi = vi;
	k->idx = idx;
	k->cfg = cfg;
	k->slot = -1;
	k->t = t;
out:
	return k;
}

/* ---- what a connection showed ---------------------------------------------- */

static void capture_chain(struct target *t, struct czpg_tls *tls)
{
	struct czpg_probe_result *res = t->res;
	size_t i, n;
	X509 *leaf;
	int m;

	if (res->nchain > 0 || tls == NULL || !czpg_tls_handshake_done(tls))
		return;
	n = czpg_tls_peer_chain_length(tls);
	res->chain_sent = n;
	for (i = 0; i < n && i < CZPG_PROBE_MAX_CHAIN; i++)
		if (czpg_certinfo_read(czpg_tls_peer_chain_cert(tls, i), time(NULL), &res->chain[i],
				       NULL, 0) == 0)
			res->nchain = i + 1;
	leaf = czpg_tls_peer_certificate(tls);
	if (leaf == NULL)
		return;
	/* The same rule as verify-full (tlsio): SANs only, no partial wildcards. */
	if (czpg_parse_is_ip(res->host))
		m = X509_check_ip_asc(leaf, res->host, 0);
	else
		m = X509_check_host(leaf, res->host, 0,
				    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
					X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
				    NULL);
	res->host_match = m == 1 ? CZPG_TRI_YES : CZPG_TRI_NO;
}

static void seen_init(struct seen *s, struct czpg_conn *c)
{
	s->c = c;
	s->tls = czpg_conn_tls(c);
	s->done = czpg_conn_phase(c) == CZPG_PHASE_DONE;
	s->hs = s->tls != NULL && czpg_tls_handshake_done(s->tls);
	s->refused =
	    czpg_conn_phase(c) == CZPG_PHASE_FAILED && czpg_conn_failed_phase(c) == CZPG_PHASE_TLS;
	s->tri = s->hs ? CZPG_TRI_YES : s->refused ? CZPG_TRI_NO : CZPG_TRI_UNKNOWN;
}

static void classify_main(struct target *t, struct czpg_conn *c)
{
	struct czpg_probe_result *res = t->res;
	const char *e = czpg_conn_error(c);
	char ans = czpg_conn_ssl_answer(c);

	res->ssl_answer = ans;
	if (ans == 'S' || ans == 'N') {
		res->status = CZPG_PROBE_PROBED;
		return;
	}
	if (ans == 'E') {
		res->status = CZPG_PROBE_PROBED;
		copy_str(res->status_detail, sizeof(res->status_detail), e);
		return;
	}
	copy_str(res->status_detail, sizeof(res->status_detail), e);
	if (ans != 0) {
		res->status = CZPG_PROBE_NOT_POSTGRESQL;
		return;
	}
	switch (czpg_conn_failed_phase(c)) {
	case CZPG_PHASE_CONNECT:
		res->status = strstr(e, strerror(ECONNREFUSED)) != NULL ? CZPG_PROBE_CLOSED
									: CZPG_PROBE_UNREACHABLE;
		break;
	case CZPG_PHASE_SSL_ANSWER:
		if (strstr(e, "timed out") != NULL || strstr(e, "deadline") != NULL) {
			res->status = CZPG_PROBE_NO_ANSWER;
			snprintf(res->status_detail, sizeof(res->status_detail),
				 "the TCP connection was accepted but nothing answered SSLRequest "
				 "(%s)",
				 e);
		} else {
			res->status = CZPG_PROBE_NOT_POSTGRESQL;
		}
		break;
	default:
		res->status = CZPG_PROBE_ERROR;
		break;
	}
}

/* How c's startup was refused, if it was refused with an ErrorResponse. */
static void record_refusal(struct czpg_probe_refusal *f, struct czpg_conn *c)
{
	copy_str(f->sqlstate, sizeof(f->sqlstate), czpg_conn_startup_sqlstate(c));
	copy_str(f->message, sizeof(f->message), czpg_conn_startup_message(c));
	copy_str(f->fields, sizeof(f->fields), czpg_conn_startup_fields(c));
}

static void record_auth(struct czpg_probe_result *res, struct czpg_conn *c)
{
	if (czpg_conn_phase(c) == CZPG_PHASE_DONE && czpg_conn_auth_request(c) >= 0) {
		res->tls_auth = czpg_conn_auth_request(c);
		copy_str(res->mechanisms, sizeof(res->mechanisms), czpg_conn_offered_mechanisms(c));
		if (res->tls_auth == CZPG_PGWIRE_AUTH_SASL)
			res->channel_binding = strstr(res->mechanisms, "SCRAM-SHA-256-PLUS") != NULL
						   ? CZPG_TRI_YES
						   : CZPG_TRI_NO;
		else
			res->channel_binding = CZPG_TRI_NO;
	} else if (czpg_conn_startup_sqlstate(c)[0] != '\0' ||
		   czpg_conn_failed_phase(c) == CZPG_PHASE_STARTUP) {
		copy_str(res->auth_detail, sizeof(res->auth_detail), czpg_conn_error(c));
		record_refusal(&res->tls_refusal, c);
	}
}

/* ---- tasks that depend on others ------------------------------------------- */

/* Every suite of version vi alone (once the version is known to be accepted). */
static void spawn_suites(struct run *r, struct target *t, int vi)
{
	struct czpg_probe_result *res = t->res;
	struct czpg_probe_version *v = &res->versions[vi];
	const char *key = res->nchain > 0 ? res->chain[0].key : "";
	size_t i, n = czpg_probe_suites_count(vi);

	if (t->suites_spawned[vi])
		return;
	t->suites_spawned[vi] = true;
	for (i = 0; i < n && v->nsuites < CZPG_PROBE_MAX_SUITES; i++) {
		struct czpg_tls_config *cfg;

		if (!czpg_probe_suites_worth_trying(vi, i, key))
			continue;
		cfg = czpg_probe_suites_for_suite(&r->suites, vi, i);
		if (cfg == NULL)
			continue; /* this OpenSSL cannot offer it */
		v->suites[v->nsuites].name = czpg_probe_suites_name(vi, i);
		v->suites[v->nsuites].accepted = CZPG_TRI_UNKNOWN;
		if (add_task(t, T_SUITE, vi, (int)v->nsuites, cfg) != NULL)
			t->suites_pending[vi]++;
		v->nsuites++;
	}
}

/*
 * One offer of version vi's ranking (probe_order.h) as a connection.  When
 * none can be made, the ranking ends with what it has.
 */
static void add_rank_task(struct run *r, struct target *t, int vi, enum czpg_probe_offer which)
{
	struct czpg_probe_order *o = &t->order[vi];
	struct czpg_tls_config *cfg = NULL;
	struct task *k = NULL;
	char list[CZPG_PROBE_MAX_SUITES * 40];
	bool owned = false;

	if (czpg_probe_order_list(o, which, list, sizeof(list)) == 0)
		cfg = czpg_probe_suites_for_list(&r->suites, vi, list, &owned);
	if (cfg != NULL)
		k = add_task(t, T_RANK, vi, (int)which, cfg);
	if (k == NULL) {
		if (owned)
			czpg_tls_config_free(cfg);
		czpg_probe_order_cut(o);
	} else {
		k->cfg_owned = owned;
	}
	czpg_probe_order_conclude(o, &t->res->versions[vi]);
}

/* Every suite of version vi is known: rank the accepted ones. */
static void spawn_order(struct run *r, struct target *t, int vi)
{
	struct czpg_probe_version *v = &t->res->versions[vi];
	const char *accepted[CZPG_PROBE_MAX_SUITES];
	size_t i, n = 0;

	for (i = 0; i < v->nsuites; i++)
		if (v->suites[i].accepted == CZPG_TRI_YES)
			accepted[n++] = v->suites[i].name;
	czpg_probe_order_init(&t->order[vi], accepted, n);
	czpg_probe_order_conclude(&t->order[vi], v);
	if (t->order[vi].state != CZPG_PROBE_ORDER_RUNNING)
		return;
	add_rank_task(r, t, vi, CZPG_PROBE_OFFER_FORWARD);
	add_rank_task(r, t, vi, CZPG_PROBE_OFFER_REVERSE);
}

/* The result entry of group table entry gi, or NULL. */
static struct czpg_probe_group *group_entry(struct czpg_probe_result *res, size_t gi)
{
	const char *name = czpg_probe_suites_group_name(gi);
	size_t i;

	for (i = 0; i < res->ngroups; i++)
		if (strcmp(res->groups[i].name, name) == 0)
			return &res->groups[i];
	return NULL;
}

/*
 * Groups by elimination: offer every group not yet seen, the server picks
 * one it accepts (HelloRetryRequest when our key share is not it); drop
 * that one and ask again until a handshake fails: accepted + 1 connections
 * instead of one per group.
 */
static void spawn_group(struct run *r, struct target *t, unsigned mask)
{
	struct czpg_tls_config *cfg =
	    mask != 0 ? czpg_probe_suites_for_groups(&r->suites, t->group_vi, mask) : NULL;

	if (cfg != NULL)
		add_task(t, T_GROUP, t->group_vi, (int)mask, cfg);
}

/* Once the versions are known: groups over TLS 1.3, else over 1.2. */
static void maybe_spawn_groups(struct run *r, struct target *t)
{
	struct czpg_probe_result *res = t->res;
	size_t i, n = czpg_probe_suites_ngroups();
	unsigned mask = 0;
	int vi = -1;

	if (t->groups_spawned || r->opt->quick || !t->gate_open)
		return;
	if (t->version_done[0] && res->versions[0].accepted == CZPG_TRI_YES)
		vi = 0;
	else if (t->version_done[0] && t->version_done[1] &&
		 res->versions[1].accepted == CZPG_TRI_YES)
		vi = 1;
	else if (!(t->version_done[0] && t->version_done[1]))
		return; /* wait */
	t->groups_spawned = true;
	if (vi < 0)
		return;
	res->groups_over = czpg_probe_suites_version_name(vi);
	t->group_vi = vi;
	for (i = 0; i < n && res->ngroups < CZPG_PROBE_MAX_GROUPS; i++) {
		if (vi != 0 && !czpg_probe_suites_group_ec(i))
			continue;
		res->groups[res->ngroups].name = czpg_probe_suites_group_name(i);
		res->groups[res->ngroups].accepted = CZPG_TRI_UNKNOWN;
		res->ngroups++;
		mask |= 1u << i;
	}
	spawn_group(r, t, mask);
}

/* The box answered like PostgreSQL: every other check may start. */
static void spawn_after_gate(struct run *r, struct target *t)
{
	struct czpg_probe_result *res = t->res;
	int vi;

	add_task(t, T_PLAIN, -1, 0, NULL);
	if (res->ssl_answer != 'S') {
		/* No TLS behind SSLRequest: nothing to enumerate. */
		if (!r->opt->quick) {
			add_task(t, T_GSSENC, -1, 0, NULL);
			add_task(t, T_DIRECT, -1, 0, r->suites.direct);
			add_task(t, T_ADMIN, -1, 0, NULL);
		}
		return;
	}
	if (r->suites.verify != NULL)
		add_task(t, T_VERIFY, -1, 0, r->suites.verify);
	for (vi = 0; vi < CZPG_PROBE_NVERSIONS; vi++) {
		struct czpg_tls_config *cfg;

		if (vi == 0 && (r->opt->quick || strcmp(res->tls_version, "TLSv1.3") == 0)) {
			/* 1.3 is read from main: a client offering 1.2-1.3 gets 1.3 if the server
			 * has it. */
			if (res->tls_ok) {
				res->versions[0].accepted = strcmp(res->tls_version, "TLSv1.3") == 0
								? CZPG_TRI_YES
								: CZPG_TRI_NO;
				if (res->versions[0].accepted == CZPG_TRI_YES)
					copy_str(res->versions[0].cipher,
						 sizeof(res->versions[0].cipher), res->tls_cipher);
			}
			t->version_done[0] = true;
			if (!r->opt->quick && res->versions[0].accepted == CZPG_TRI_YES)
				spawn_suites(r, t, 0);
			continue;
		}
		cfg = czpg_probe_suites_for_version(&r->suites, vi);
		if (cfg == NULL) {
			copy_str(res->versions[vi].detail, sizeof(res->versions[vi].detail),
				 "this OpenSSL cannot offer it");
			t->version_done[vi] = true;
			continue;
		}
		add_task(t, T_VERSION, vi, 0, cfg);
	}
	if (!r->opt->quick) {
		add_task(t, T_GSSENC, -1, 0, NULL);
		add_task(t, T_DIRECT, -1, 0, r->suites.direct);
		add_task(t, T_ADMIN, -1, 0, res->tls_ok ? r->suites.main : NULL);
	}
}

/* ---- one handler per task kind ----------------------------------------------- */

static bool start_main(struct run *r, struct target *t);

static void record_main(struct run *r, struct task *k, const struct seen *s)
{
	struct target *t = k->t;
	struct czpg_probe_result *res = t->res;

	/* No address of this name accepted the connection: as libpq, the next name. */
	if (!s->done && czpg_conn_failed_phase(s->c) == CZPG_PHASE_CONNECT &&
	    t->alt + 1 < t->nalts && !t->expired) {
		t->alt++;
		t->deadline_ns = czpg_engine_now_ns() + (uint64_t)r->timeout_ms * 1000000ull;
		if (start_main(r, t))
			return;
	}
	classify_main(t, s->c);
	if (s->hs) {
		res->tls_ok = true;
		copy_str(res->tls_version, sizeof(res->tls_version), czpg_tls_version(s->tls));
		copy_str(res->tls_cipher, sizeof(res->tls_cipher), czpg_tls_cipher(s->tls));
		copy_str(res->tls_group, sizeof(res->tls_group), czpg_tls_group(s->tls));
		record_auth(res, s->c);
	} else if (res->ssl_answer == 'S') {
		copy_str(res->tls_error, sizeof(res->tls_error), czpg_conn_error(s->c));
	}
	if (res->status == CZPG_PROBE_PROBED) {
		t->gate_open = true;
		spawn_after_gate(r, t);
	}
}

static void record_plain(struct run *r, struct task *k, const struct seen *s)
{
	struct czpg_probe_result *res = k->t->res;

	(void)r;
	if (s->done) {
		res->plaintext_accepted = CZPG_TRI_YES;
		res->plaintext_auth = czpg_conn_auth_request(s->c);
		snprintf(res->plaintext_detail, sizeof(res->plaintext_detail),
			 "the server asked for %s", czpg_probe_auth_name(res->plaintext_auth));
	} else {
		copy_str(res->plaintext_sqlstate, sizeof(res->plaintext_sqlstate),
			 czpg_conn_startup_sqlstate(s->c));
		res->plaintext_accepted =
		    res->plaintext_sqlstate[0] != '\0' ? CZPG_TRI_NO : CZPG_TRI_UNKNOWN;
		copy_str(res->plaintext_detail, sizeof(res->plaintext_detail),
			 czpg_conn_error(s->c));
		record_refusal(&res->plaintext_refusal, s->c);
	}
}

static void record_admin(struct run *r, struct task *k, const struct seen *s)
{
	struct czpg_probe_result *res = k->t->res;

	(void)r;
	if (s->done)
		res->admin_auth = CZPG_TRI_YES;
	else if (czpg_conn_startup_sqlstate(s->c)[0] != '\0')
		res->admin_auth = CZPG_TRI_NO;
	record_refusal(&res->admin_refusal, s->c);
}

static void record_gssenc(struct run *r, struct task *k, const struct seen *s)
{
	struct czpg_probe_result *res = k->t->res;

	(void)r;
	res->gssenc_answer = czpg_conn_ssl_answer(s->c);
	if (!s->done)
		copy_str(res->gssenc_detail, sizeof(res->gssenc_detail), czpg_conn_error(s->c));
	else
		snprintf(res->gssenc_detail, sizeof(res->gssenc_detail), "%s",
			 res->gssenc_answer == 'G' ? "GSSAPI encryption offered"
						   : "GSSAPI encryption not offered");
}

static void record_direct(struct run *r, struct task *k, const struct seen *s)
{
	struct czpg_probe_result *res = k->t->res;

	(void)r;
	res->direct_tls = s->tri;
	if (s->hs)
		copy_str(res->direct_alpn, sizeof(res->direct_alpn), czpg_tls_alpn(s->tls));
	else
		copy_str(res->direct_detail, sizeof(res->direct_detail), czpg_conn_error(s->c));
}

static void record_verify(struct run *r, struct task *k, const struct seen *s)
{
	struct czpg_probe_result *res = k->t->res;
	long code;

	(void)r;
	if (s->hs) {
		res->ca_verified = CZPG_TRI_YES;
		snprintf(res->ca_detail, sizeof(res->ca_detail), "verify-full handshake succeeded");
	} else {
		code = s->tls != NULL ? czpg_tls_verify_result(s->tls) : X509_V_OK;
		copy_str(res->ca_detail, sizeof(res->ca_detail), czpg_conn_error(s->c));
		if (code == X509_V_ERR_HOSTNAME_MISMATCH || code == X509_V_ERR_IP_ADDRESS_MISMATCH)
			res->ca_verified = CZPG_TRI_YES; /* the chain was fine; the name was not */
		else if (code != X509_V_OK)
			res->ca_verified = CZPG_TRI_NO;
		else
			res->ca_verified = CZPG_TRI_UNKNOWN;
	}
}

static void record_version(struct run *r, struct task *k, const struct seen *s)
{
	struct target *t = k->t;
	struct czpg_probe_version *v = &t->res->versions[k->vi];

	v->accepted = s->tri;
	if (s->hs)
		copy_str(v->cipher, sizeof(v->cipher), czpg_tls_cipher(s->tls));
	else
		copy_str(v->detail, sizeof(v->detail), czpg_conn_error(s->c));
	t->version_done[k->vi] = true;
	if (s->hs && !r->opt->quick)
		spawn_suites(r, t, k->vi);
	maybe_spawn_groups(r, t);
}

static void record_suite(struct run *r, struct task *k, const struct seen *s)
{
	struct target *t = k->t;

	t->res->versions[k->vi].suites[k->idx].accepted = s->tri;
	if (t->suites_pending[k->vi] > 0 && --t->suites_pending[k->vi] == 0)
		spawn_order(r, t, k->vi);
}

static void record_group(struct run *r, struct task *k, const struct seen *s)
{
	struct target *t = k->t;
	struct czpg_probe_result *res = t->res;
	unsigned mask = (unsigned)k->idx;
	size_t i, n = czpg_probe_suites_ngroups();
	const char *got = s->hs ? czpg_tls_group(s->tls) : NULL;

	if (got != NULL) {
		/* The one chosen is accepted; a group we did not offer leaves all unknown. */
		for (i = 0; i < n; i++) {
			struct czpg_probe_group *g = group_entry(res, i);

			if ((mask & (1u << i)) && g != NULL && czpg_probe_suites_group_is(i, got)) {
				g->accepted = CZPG_TRI_YES;
				spawn_group(r, t, mask & ~(1u << i));
				break;
			}
		}
	} else if (s->refused) {
		/* None of those offered is accepted. */
		for (i = 0; i < n; i++) {
			struct czpg_probe_group *g = group_entry(res, i);

			if ((mask & (1u << i)) && g != NULL)
				g->accepted = CZPG_TRI_NO;
		}
	}
}

static void record_rank(struct run *r, struct task *k, const struct seen *s)
{
	struct target *t = k->t;
	struct czpg_probe_order *o = &t->order[k->vi];

	if (czpg_probe_order_record(o, (enum czpg_probe_offer)k->idx,
				    s->hs ? czpg_tls_cipher(s->tls) : NULL))
		add_rank_task(r, t, k->vi, CZPG_PROBE_OFFER_NEXT);
	czpg_probe_order_conclude(o, &t->res->versions[k->vi]);
}

/* How each kind of task connects, and what records its result. */
static const struct task_def {
	enum czpg_conn_opening opening;
	enum czpg_conn_goal goal;
	void (*record)(struct run *r, struct task *k, const struct seen *s);
} task_defs[T_NKINDS] = {
    [T_MAIN] = {CZPG_OPEN_DEFAULT, CZPG_GOAL_AUTH_REQUEST, record_main},
    [T_PLAIN] = {CZPG_OPEN_DEFAULT, CZPG_GOAL_AUTH_REQUEST, record_plain},
    [T_GSSENC] = {CZPG_OPEN_GSSENC_REQUEST, CZPG_GOAL_SESSION, record_gssenc},
    [T_DIRECT] = {CZPG_OPEN_DIRECT_TLS, CZPG_GOAL_TLS, record_direct},
    [T_VERIFY] = {CZPG_OPEN_DEFAULT, CZPG_GOAL_TLS, record_verify},
    [T_VERSION] = {CZPG_OPEN_DEFAULT, CZPG_GOAL_TLS, record_version},
    [T_SUITE] = {CZPG_OPEN_DEFAULT, CZPG_GOAL_TLS, record_suite},
    [T_GROUP] = {CZPG_OPEN_DEFAULT, CZPG_GOAL_TLS, record_group},
    [T_RANK] = {CZPG_OPEN_DEFAULT, CZPG_GOAL_TLS, record_rank},
    [T_ADMIN] = {CZPG_OPEN_DEFAULT, CZPG_GOAL_AUTH_REQUEST, record_admin},
};

/* ---- the engine ------------------------------------------------------------ */

static void on_release(struct czpg_conn *c, void *user)
{
	struct run *r = user;
	struct task *k = czpg_conn_user_data(c);
	struct seen s;

	seen_init(&s, c);
	if (s.hs)
		capture_chain(k->t, s.tls);
	task_defs[k->kind].record(r, k, &s);
	k->done = true;
	k->conn = NULL;
	k->t->running--;
	czpg_conn_free(c);
	if (k->cfg_owned) {
		czpg_tls_config_free(k->cfg);
		k->cfg = NULL;
		k->cfg_owned = false;
	}
}

/* A task that cannot start stays unknown; main's failure is the target's. */
static void task_not_started(struct task *k, const char *err)
{
	k->done = true;
	if (k->kind == T_MAIN) {
		k->t->res->status = CZPG_PROBE_ERROR;
		copy_str(k->t->res->status_detail, sizeof(k->t->res->status_detail), err);
	}
}

/*
 * The connect of one task, as libpq connects: the main task tries every
 * address of the host in order (each with its own connect timeout); every
 * later task goes to the address that answered it.  Returns the slot or -1.
 */
static int connect_task(struct run *r, struct task *k, char *err, size_t errlen)
{
	struct target *t = k->t;
	const struct czpg_engine_endpoint *ep;

	if (k->kind == T_MAIN)
		return czpg_engine_connect_addrs(r->engine, k->conn, &t->addrs, &t->route,
						 t->res->target, err, errlen);
	ep = t->route.answered >= 0 ? &t->route.peer : &t->addrs.addr[0];
	return czpg_engine_connect(r->engine, k->conn, (const struct sockaddr *)&ep->sa, ep->len,
				   NULL, 0, t->res->target, err, errlen);
}

/* 0 (started, or given up), -1 when the engine is full (try again later). */
static int start_task(struct run *r, struct task *k)
{
	struct target *t = k->t;
	struct czpg_conn_config cc = {0};
	char err[256];
	int rc = 0;

	cc.host = t->res->host;
	cc.user = r->user;
	cc.dbname = k->kind == T_ADMIN ? "pgbouncer" : r->user;
	cc.application_name = "czctl-probe";
	cc.phase_timeout_ms = r->timeout_ms;
	cc.user_data = k;
	cc.tls = k->cfg;
	cc.use_tls = k->cfg != NULL;
	cc.opening = task_defs[k->kind].opening;
	cc.goal = task_defs[k->kind].goal;
	k->started = true;
	k->conn = czpg_conn_new(&cc, czpg_engine_now_ns(), err, sizeof(err));
	if (k->conn == NULL) {
		task_not_started(k, err);
		goto out;
	}
	k->slot = connect_task(r, k, err, sizeof(err));
	if (k->slot < 0) {
		czpg_conn_free(k->conn);
		k->conn = NULL;
		if (czpg_engine_active(r->engine) >= r->nslots) {
			k->started = false; /* try again when a slot frees */
			rc = -1;
		} else {
			/* A local failure (socket(), descriptors). */
			task_not_started(k, err);
		}
		goto out;
	}
	t->running++;
	t->res->connections++;
out:
	return rc;
}

/* Starts what the target may start now; false when the engine is full. */
static bool pump_target(struct run *r, struct target *t)
{
	while (t->next < t->ntasks && t->running < r->per_target) {
		if (start_task(r, &t->tasks[t->next]) < 0)
			return false;
		t->next++;
	}
	return true;
}

static bool target_idle(const struct target *t)
{
	return t->running == 0 && t->next == t->ntasks;
}

/* Fails every open connection of t with msg. */
static void fail_open(struct run *r, struct target *t, const char *msg)
{
	size_t i;

	for (i = 0; i < t->ntasks; i++) {
		struct task *k = &t->tasks[i];

		if (k->conn != NULL && !czpg_conn_finished(k->conn)) {
			czpg_conn_fail_transport(k->conn, msg);
			czpg_engine_wake(r->engine, k->slot);
		}
	}
}

/* Main is still connecting (no address of its name has accepted yet). */
static bool main_connecting(const struct target *t)
{
	size_t i;

	for (i = 0; i < t->ntasks; i++)
		if (t->tasks[i].kind == T_MAIN && t->tasks[i].conn != NULL &&
		    czpg_conn_phase(t->tasks[i].conn) == CZPG_PHASE_CONNECT)
			return true;
	return false;
}

/* The deadline passed: fail open connections, drop what has not started. */
static void expire_target(struct run *r, struct target *t)
{
	struct czpg_engine_route *rt = &t->route;
	char msg[160];

	snprintf(msg, sizeof(msg), "the per-target deadline (%u ms) passed", r->timeout_ms);
	t->deadline_ns = UINT64_MAX;
	if (t->alt + 1 < t->nalts && main_connecting(t)) {
		/*
		 * Still connecting to this name of a host list: as libpq, the next
		 * name is tried, with a deadline of its own (record_main sets it).
		 */
		if (rt->ntried > 0 && rt->nlost == 0 && rt->tried[rt->ntried - 1].error[0] == '\0')
			czpg_errf(rt->tried[rt->ntried - 1].error, sizeof(rt->tried[0].error),
				  "timed out: %s", msg);
		fail_open(r, t, msg);
		return;
	}
	t->res->deadline_hit = true;
	fail_open(r, t, msg);
	t->next = t->ntasks;
	t->expired = true;
}

static void init_result(struct czpg_probe_result *res, const struct czpg_probe_target *tg,
			const struct run *r)
{
	size_t i;

	memset(res, 0, sizeof(*res));
	copy_str(res->target, sizeof(res->target), tg->label);
	copy_str(res->host, sizeof(res->host), tg->host);
	res->port = tg->port;
	copy_str(res->user, sizeof(res->user), r->user);
	res->quick = r->opt->quick;
	res->status = CZPG_PROBE_ERROR;
	res->resumption = "not checked";
	res->plaintext_auth = -1;
	res->tls_auth = -1;
	res->ca_given = r->opt->ca_file != NULL;
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		res->versions[i].name = czpg_probe_suites_version_name((int)i);
		res->versions[i].version = czpg_probe_suites_version((int)i);
	}
}

/*
 * Queues main for the name t->alt, or the first name after it that
 * resolves (a name that does not is an attempt of the route).  False when
 * no name is left: the target's status says why.
 */
static bool start_main(struct run *r, struct target *t)
{
	struct czpg_probe_result *res = t->res;
	const struct czpg_probe_target *tg;
	char err[300] = "no name left to try";

	for (; t->alt < t->nalts; t->alt++) {
		tg = &t->alts[t->alt];
		copy_str(res->host, sizeof(res->host), tg->host);
		res->port = tg->port;
		if (czpg_engine_resolve_all(tg->host, tg->port, &t->addrs, err, sizeof(err)) < 0) {
			czpg_engine_route_add(&t->route, tg->label, err);
			continue;
		}
		if (add_task(t, T_MAIN, -1, 0, r->suites.main) != NULL)
			return true;
		czpg_errf(err, sizeof(err), "the probe of %s could not start", tg->label);
		break;
	}
	if (t->alt == t->nalts)
		t->alt = t->nalts - 1;
	res->status = CZPG_PROBE_UNREACHABLE;
	copy_str(res->status_detail, sizeof(res->status_detail), err);
	return false;
}

static void start_target(struct run *r, struct target *t, const struct czpg_probe_target *alts,
			 size_t nalts, size_t index)
{
	struct czpg_probe_result *res = t->res;
	size_t i;

	memset(t, 0, sizeof(*t));
	t->res = res;
	t->index = index;
	t->alts = alts;
	t->nalts = nalts;
	t->active = true;
	t->start_ns = czpg_engine_now_ns();
	t->deadline_ns = t->start_ns + (uint64_t)r->timeout_ms * 1000000ull;
	init_result(t->res, &alts[0], r);
	for (i = 1; i < nalts; i++)
		czpg_errf(res->target + strlen(res->target),
			  sizeof(res->target) - strlen(res->target), ",%s", alts[i].label);
	czpg_engine_route_init(&t->route);
	start_main(r, t);
}

/*
 * What the connect path did, into the result: which name and address
 * answered, every attempt; and when no name of a list answered, one
 * sentence naming each attempt (the engine's names only one name's).
 */
static void record_route(struct target *t)
{
	struct czpg_probe_result *res = t->res;
	const struct czpg_engine_route *rt = &t->route;
	char list[sizeof(res->connect_failures)];
	size_t i;

	for (i = 0; i < rt->ntried && i < CZPG_ENGINE_MAX_ADDRS; i++)
		res->attempts[i] = rt->tried[i];
	res->nattempts = i;
	res->nattempts_lost = rt->nlost;
	czpg_engine_route_describe(rt, res->connect_failures, sizeof(res->connect_failures));
	if (rt->answered >= 0) {
		copy_str(res->connected_host, sizeof(res->connected_host), res->host);
		copy_str(res->connected_to, sizeof(res->connected_to),
			 rt->tried[rt->answered].addr);
	} else if (t->nalts > 1 && rt->ntried > 0 &&
		   (res->status == CZPG_PROBE_CLOSED || res->status == CZPG_PROBE_UNREACHABLE)) {
		copy_str(list, sizeof(list), res->connect_failures);
		czpg_errf(res->status_detail, sizeof(res->status_detail),
			  "could not connect to any host of %s: %s", res->target, list);
	}
}

/* Configurations the run did not keep, of tasks that never ran (or whatever is left). */
static void free_owned_configs(struct target *t)
{
	size_t i;

	for (i = 0; i < t->ntasks; i++)
		if (t->tasks[i].cfg_owned && t->tasks[i].conn == NULL) {
			czpg_tls_config_free(t->tasks[i].cfg);
			t->tasks[i].cfg = NULL;
			t->tasks[i].cfg_owned = false;
		}
}

static void finish_target(struct run *r, struct target *t)
{
	int vi;

	/* A ranking the deadline cut keeps what it found. */
	for (vi = 0; vi < CZPG_PROBE_NVERSIONS; vi++)
		if (t->order[vi].state == CZPG_PROBE_ORDER_RUNNING) {
			czpg_probe_order_cut(&t->order[vi]);
			czpg_probe_order_conclude(&t->order[vi], &t->res->versions[vi]);
		}
	free_owned_configs(t);
	record_route(t);
	t->res->elapsed_ms = (double)(czpg_engine_now_ns() - t->start_ns) / 1e6;
	czpg_probe_assess(t->res);
	t->active = false;
	if (r->opt->on_result != NULL)
		r->opt->on_result(t->res, t->index, r->opt->cb_user);
}

/* ---- the public entry points ------------------------------------------------- */

/*
 * The scheduler: n targets, each nalts consecutive entries of targets (the
 * names of one box: 1 for a fleet, a host list's for one box).
 */
static int run_targets(const struct czpg_probe_options *opt,
		       const struct czpg_probe_target *targets, size_t n, size_t nalts, char *err,
		       size_t errlen)
{
	struct run r;
	struct czpg_engine_config ec = {0};
	struct target *slots = NULL;
	struct czpg_probe_result *results = NULL;
	unsigned conc, nslots, active = 0, i;
	size_t next = 0, done = 0;
	uint64_t now;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.opt = opt;
	r.user = opt->user != NULL && opt->user[0] != '\0' ? opt->user : "postgres";
	r.timeout_ms =
	    opt->target_timeout_ms != 0 ? opt->target_timeout_ms : PROBE_DEFAULT_TIMEOUT_MS;
	if (n == 0) {
		czpg_errf(err, errlen, "no targets to probe");
		goto out;
	}
	conc = opt->concurrency != 0 ? opt->concurrency : PROBE_DEFAULT_CONCURRENCY;
	if (conc > n)
		conc = (unsigned)n;
	r.per_target = opt->per_target != 0 ? opt->per_target : (n == 1 ? 64u : 8u);
	nslots = conc * r.per_target;
	if (nslots > PROBE_MAX_SLOTS)
		nslots = PROBE_MAX_SLOTS;
	if (czpg_probe_suites_init(&r.suites, opt->ca_file) < 0) {
		czpg_errf(err, errlen, "%s", r.suites.err);
		goto out;
	}
	ec.max_conns = nslots;
	r.nslots = nslots;
	ec.connect_timeout_ms = r.timeout_ms;
	ec.on_release = on_release;
	ec.user = &r;
	r.engine = czpg_engine_new(&ec, err, errlen);
	if (r.engine == NULL)
		goto out;
	slots = calloc(conc, sizeof(*slots));
	results = calloc(conc, sizeof(*results));
	if (slots == NULL || results == NULL) {
		czpg_errf(err, errlen, "out of memory for %u concurrent targets", conc);
		goto out;
	}
	for (i = 0; i < conc; i++)
		slots[i].res = &results[i];

	while (done < n) {
		bool finished_one = false;

		/* Admit targets, start tasks, finish idle targets. */
		for (i = 0; i < conc; i++) {
			struct target *t = &slots[i];

			for (;;) {
				if (!t->active) {
					if (next >= n)
						break;
					start_target(&r, t, &targets[next * nalts], nalts, next);
					next++;
					active++;
				}
				pump_target(&r, t);
				if (!target_idle(t))
					break;
				finish_target(&r, t);
				active--;
				done++;
				finished_one = true;
			}
		}
		if (finished_one && opt->on_progress != NULL)
			opt->on_progress(done, n, active, opt->cb_user);
		if (done == n)
			break;
		if (czpg_engine_run_once(r.engine, 5000000ull, err, errlen) < 0)
			goto out;
		now = czpg_engine_now_ns();
		for (i = 0; i < conc; i++)
			if (slots[i].active && now >= slots[i].deadline_ns)
				expire_target(&r, &slots[i]);
	}
	rc = 0;
out:
	/* On a ring failure, connections still in the engine are dropped with it. */
	if (rc < 0 && slots != NULL) {
		for (i = 0; i < conc; i++) {
			size_t k;

			for (k = 0; k < slots[i].ntasks; k++)
				if (slots[i].tasks[k].conn != NULL) {
					czpg_conn_free(slots[i].tasks[k].conn);
					slots[i].tasks[k].conn = NULL;
				}
			free_owned_configs(&slots[i]);
		}
	}
	czpg_engine_free(r.engine);
	free(slots);
	free(results);
	czpg_probe_suites_free(&r.suites);
	return rc;
}

int czpg_probe_run(const struct czpg_probe_options *opt, const struct czpg_probe_target *targets,
		   size_t n, char *err, size_t errlen)
{
	return run_targets(opt, targets, n, 1, err, errlen);
}

int czpg_probe_run_alternatives(const struct czpg_probe_options *opt,
				const struct czpg_probe_target *alts, size_t n, char *err,
				size_t errlen)
{
	if (n == 0 || n > CZPG_PROBE_MAX_ALTERNATIVES) {
		czpg_errf(err, errlen, "a box has 1 to %d names to try, not %zu",
			  CZPG_PROBE_MAX_ALTERNATIVES, n);
		return -1;
	}
	return run_targets(opt, alts, 1, n, err, errlen);
}

struct one_ctx {
	struct czpg_probe_result *res;
};

static void one_result(const struct czpg_probe_result *r, size_t index, void *user)
{
	struct one_ctx *c = user;

	(void)index;
	memcpy(c->res, r, sizeof(*r));
}

int czpg_probe_one(const struct czpg_probe_options *opt, const char *host, unsigned port,
		   struct czpg_probe_result *res, char *err, size_t errlen)
{
	struct czpg_probe_options o = *opt;
	struct czpg_probe_target tg;
	struct one_ctx ctx = {res};
	char text[300];

	memset(res, 0, sizeof(*res));
	if (host == NULL || strchr(host, ':') != NULL)
		snprintf(text, sizeof(text), "[%s]:%u", host != NULL ? host : "", port);
	else
		snprintf(text, sizeof(text), "%s:%u", host, port);
	if (czpg_probe_parse_target(text, port, &tg, err, errlen) < 0)
		return -1;
	o.on_result = one_result;
	o.on_progress = NULL;
	o.cb_user = &ctx;
	return czpg_probe_run(&o, &tg, 1, err, errlen);
}
