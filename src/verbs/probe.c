/*
 * probe.c - `czctl postgres tls probe`: what TLS a PostgreSQL box speaks,
 * learned with many short connections on one engine thread and no password
 * (see czpg/probe.h).
 *
 * Protocol references: PostgreSQL docs chapter 55 ("SSL Session Encryption",
 * "GSSAPI Session Encryption", "Start-up"; direct TLS with ALPN
 * "postgresql" in PostgreSQL 17), RFC 8446 / RFC 5246 (TLS 1.3 / 1.2
 * negotiation of versions, suites and groups), RFC 7301 (ALPN), RFC 6125
 * section 6 (host names against subjectAltName).
 *
 * Scheduling: each target owns a fixed array of tasks (one task = one
 * connection).  A task is started when its target has a free connection
 * slot; when its connection is released, the result is recorded and tasks
 * that depended on it are appended.  Targets are admitted up to the
 * concurrency cap; a per-target deadline fails whatever is still open.
 */
#include "czpg/probe.h"
#include "czpg/errf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "czpg/parse.h"
#include "czpg/report.h"
#include "czpg/result.h"
#include "czpg/conn.h"
#include "czpg/engine.h"
#include "czpg/json.h"
#include "czpg/pgwire.h"

#define PROBE_MAX_TASKS 160
#define PROBE_DEFAULT_TIMEOUT_MS 10000u
#define PROBE_DEFAULT_CONCURRENCY 64u
#define PROBE_MAX_SLOTS 8192u

/* ---- what is tried ------------------------------------------------------ */

static const struct {
	const char *name;
	int version;
} version_table[CZPG_PROBE_NVERSIONS] = {
    {"TLSv1.3", TLS1_3_VERSION},
    {"TLSv1.2", TLS1_2_VERSION},
    {"TLSv1.1", TLS1_1_VERSION},
    {"TLSv1", TLS1_VERSION},
};

static const char *const tls13_suites[] = {
    "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
    "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256",
};

/* TLS 1.2 and older suites; legacy = usable with TLS 1.0/1.1 too. */
static const struct {
	const char *name;
	bool legacy;
} tls12_suites[] = {
    {"ECDHE-ECDSA-AES256-GCM-SHA384", false},
    {"ECDHE-RSA-AES256-GCM-SHA384", false},
    {"ECDHE-ECDSA-CHACHA20-POLY1305", false},
    {"ECDHE-RSA-CHACHA20-POLY1305", false},
    {"ECDHE-ECDSA-AES128-GCM-SHA256", false},
    {"ECDHE-RSA-AES128-GCM-SHA256", false},
    {"ECDHE-ECDSA-AES256-CCM", false},
    {"ECDHE-ECDSA-AES128-CCM", false},
    {"ECDHE-ECDSA-AES256-CCM8", false},
    {"ECDHE-ECDSA-AES128-CCM8", false},
    {"ECDHE-ECDSA-ARIA256-GCM-SHA384", false},
    {"ECDHE-ECDSA-ARIA128-GCM-SHA256", false},
    {"ECDHE-ARIA256-GCM-SHA384", false},
    {"ECDHE-ARIA128-GCM-SHA256", false},
    {"ECDHE-ECDSA-CAMELLIA256-SHA384", false},
    {"ECDHE-ECDSA-CAMELLIA128-SHA256", false},
    {"ECDHE-RSA-CAMELLIA256-SHA384", false},
    {"ECDHE-RSA-CAMELLIA128-SHA256", false},
    {"DHE-RSA-AES256-CCM", false},
    {"DHE-RSA-AES128-CCM", false},
    {"DHE-RSA-AES256-GCM-SHA384", false},
    {"DHE-RSA-CHACHA20-POLY1305", false},
    {"DHE-RSA-AES128-GCM-SHA256", false},
    {"ECDHE-ECDSA-AES256-SHA384", false},
    {"ECDHE-RSA-AES256-SHA384", false},
    {"ECDHE-ECDSA-AES128-SHA256", false},
    {"ECDHE-RSA-AES128-SHA256", false},
    {"DHE-RSA-AES256-SHA256", false},
    {"DHE-RSA-AES128-SHA256", false},
    {"ECDHE-ECDSA-AES256-SHA", true},
    {"ECDHE-RSA-AES256-SHA", true},
    {"ECDHE-ECDSA-AES128-SHA", true},
    {"ECDHE-RSA-AES128-SHA", true},
    {"DHE-RSA-AES256-SHA", true},
    {"DHE-RSA-AES128-SHA", true},
    {"AES256-GCM-SHA384", false},
    {"AES128-GCM-SHA256", false},
    {"AES256-CCM", false},
    {"AES128-CCM", false},
    {"AES256-SHA256", false},
    {"AES128-SHA256", false},
    {"AES256-SHA", true},
    {"AES128-SHA", true},
    {"DHE-RSA-CAMELLIA256-SHA", true},
    {"DHE-RSA-CAMELLIA128-SHA", true},
    {"CAMELLIA256-SHA", true},
    {"CAMELLIA128-SHA", true},
    {"ECDHE-RSA-DES-CBC3-SHA", true},
    {"DES-CBC3-SHA", true},
};

/* Groups; ec = usable for TLS 1.2 ECDHE (OpenSSL offers FFDHE groups in 1.3 only). */
static const struct {
	const char *name;
	const char *openssl; /* what SSL_group_to_name() reports */
	bool ec;
} group_table[] = {
    {"X25519", "x25519", true},
    {"P-256", "secp256r1", true},
    {"P-384", "secp384r1", true},
    {"P-521", "secp521r1", true},
    {"X448", "x448", true},
    {"ffdhe2048", "ffdhe2048", false},
    {"ffdhe3072", "ffdhe3072", false},
    {"ffdhe4096", "ffdhe4096", false},
    {"ffdhe6144", "ffdhe6144", false},
    {"ffdhe8192", "ffdhe8192", false},
};

#define N_TLS13_SUITES (sizeof(tls13_suites) / sizeof(tls13_suites[0]))
#define N_TLS12_SUITES (sizeof(tls12_suites) / sizeof(tls12_suites[0]))
#define N_GROUPS (sizeof(group_table) / sizeof(group_table[0]))

_Static_assert(N_TLS12_SUITES <= CZPG_PROBE_MAX_SUITES, "suite table larger than a result holds");
_Static_assert(N_GROUPS <= CZPG_PROBE_MAX_GROUPS && N_GROUPS < 16, "group table too large");

/* ---- run state ------------------------------------------------------------ */

enum task_kind {
	T_MAIN = 0,
	T_PLAIN,
	T_GSSENC,
	T_DIRECT,
	T_VERIFY,
	T_VERSION, /* vi */
	T_SUITE,   /* vi, idx = index into the version's suites[] */
	T_GROUP,   /* idx = bit mask of group_table entries offered; vi = version used */
	T_ORDER,   /* vi, idx = 0 (a:b) or 1 (b:a) */
};

struct target;

struct task {
	enum task_kind kind;
	int vi;
	int idx;
	struct czpg_tls_config *cfg; /* borrowed from the run's cache */
	struct czpg_conn *conn;
	int slot;
	bool started;
	bool done;
	struct target *t;
};

struct target {
	struct czpg_probe_result *res;
	size_t index;
	struct sockaddr_storage addr;
	socklen_t addrlen;
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
	int order_a[CZPG_PROBE_NVERSIONS], order_b[CZPG_PROBE_NVERSIONS];
	char order_got[CZPG_PROBE_NVERSIONS][2][64];
	unsigned order_pending[CZPG_PROBE_NVERSIONS];
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
	/* Shared TLS configurations, made on first use. */
	struct czpg_tls_config *cfg_main, *cfg_verify, *cfg_direct;
	struct czpg_tls_config *cfg_version[CZPG_PROBE_NVERSIONS];
	struct czpg_tls_config *cfg_suite[CZPG_PROBE_NVERSIONS][CZPG_PROBE_MAX_SUITES];
	bool suite_unusable[CZPG_PROBE_NVERSIONS][CZPG_PROBE_MAX_SUITES];
	struct czpg_tls_config **cfg_group; /* [vi == 0 ? 0 : 1][mask] */
	struct czpg_tls_config **cfg_order; /* [vi][a][b][dir] */
	char err[512];
};

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* ---- names ----------------------------------------------------------------- */

const char *czpg_probe_severity_name(enum czpg_probe_severity s)
{
	switch (s) {
	case CZPG_SEV_INFO:
		return "info";
	case CZPG_SEV_LOW:
		return "low";
	case CZPG_SEV_MEDIUM:
		return "medium";
	case CZPG_SEV_HIGH:
		return "high";
	}
	return "unknown";
}

const char *czpg_probe_status_name(enum czpg_probe_status s)
{
	switch (s) {
	case CZPG_PROBE_PROBED:
		return "probed";
	case CZPG_PROBE_CLOSED:
		return "closed";
	case CZPG_PROBE_UNREACHABLE:
		return "unreachable";
	case CZPG_PROBE_NO_ANSWER:
		return "no-answer";
	case CZPG_PROBE_NOT_POSTGRESQL:
		return "not-postgresql";
	case CZPG_PROBE_ERROR:
		return "error";
	}
	return "unknown";
}

const char *czpg_probe_tri_name(enum czpg_probe_tri t)
{
	return t == CZPG_TRI_YES ? "yes" : t == CZPG_TRI_NO ? "no" : "unknown";
}

/* ---- targets ------------------------------------------------------------- */

int czpg_probe_parse_target(const char *text, unsigned default_port, struct czpg_probe_target *t,
			    char *err, size_t errlen)
{
	const char *host = text, *port = NULL, *end;
	size_t hlen;
	unsigned long p = default_port;
	const char *colon;
	bool v6 = false;

	memset(t, 0, sizeof(*t));
	if (text == NULL || text[0] == '\0') {
		czpg_errf(err, errlen, "empty target");
		return -1;
	}
	if (text[0] == '[') {
		end = strchr(text, ']');
		if (end == NULL) {
			czpg_errf(err, errlen, "target \"%.80s\" has '[' without ']'", text);
			return -1;
		}
		host = text + 1;
		hlen = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			czpg_errf(err, errlen,
				"target \"%.80s\" has text after ']' that is not :port", text);
			return -1;
		}
		v6 = true;
	} else {
		colon = strchr(text, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			hlen = strlen(text); /* a bare IPv6 literal: no port */
			v6 = true;
		} else if (colon != NULL) {
			hlen = (size_t)(colon - text);
			port = colon + 1;
		} else {
			hlen = strlen(text);
		}
	}
	if (hlen == 0) {
		czpg_errf(err, errlen, "target \"%.80s\" has no host", text);
		return -1;
	}
	if (hlen >= sizeof(t->host)) {
		czpg_errf(err, errlen, "target host is longer than %zu characters",
			sizeof(t->host) - 1);
		return -1;
	}
	memcpy(t->host, host, hlen);
	t->host[hlen] = '\0';
	if (v6 && czpg_parse_ip(t->host, NULL) != 6) {
		czpg_errf(err, errlen, "target \"%.80s\" is not a valid IPv6 address", t->host);
		return -1;
	}
	if (strspn(t->host,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:%_") != hlen) {
		czpg_errf(err, errlen, "target host \"%.80s\" has characters a host name cannot have",
			t->host);
		return -1;
	}
	if (port != NULL && czpg_parse_uint(port, 1, 65535, &p) < 0) {
		czpg_errf(err, errlen, "target \"%.80s\" has port \"%.20s\", not a number 1-65535",
			text, port);
		return -1;
	}
	if (p == 0 || p > 65535) {
		czpg_errf(err, errlen, "target \"%.80s\" has no port and no default port", text);
		return -1;
	}
	t->port = (unsigned)p;
	if (v6)
		snprintf(t->label, sizeof(t->label), "[%s]:%u", t->host, t->port);
	else
		snprintf(t->label, sizeof(t->label), "%s:%u", t->host, t->port);
	return 0;
}

int czpg_probe_parse_targets(const char *text, size_t len, unsigned default_port,
			     struct czpg_probe_target **out, size_t *n, char *err, size_t errlen)
{
	struct czpg_probe_target *list = NULL, *grown;
	size_t cap = 0, count = 0, pos = 0, lineno = 0;
	char line[1024], why[256];
	int rc = -1;

	*out = NULL;
	*n = 0;
	while (pos < len) {
		size_t start = pos, l, b, e;
		const char *hash;

		while (pos < len && text[pos] != '\n')
			pos++;
		l = pos - start;
		pos++; /* the newline */
		lineno++;
		if (memchr(text + start, '\0', l) != NULL) {
			czpg_errf(err, errlen, "line %zu: contains a NUL byte (not a text file?)",
				lineno);
			goto out;
		}
		if (l >= sizeof(line)) {
			czpg_errf(err, errlen, "line %zu: longer than %zu characters", lineno,
				sizeof(line) - 1);
			goto out;
		}
		memcpy(line, text + start, l);
		line[l] = '\0';
		hash = strchr(line, '#');
		if (hash != NULL)
			line[hash - line] = '\0';
		l = strlen(line);
		for (b = 0; b < l && (line[b] == ' ' || line[b] == '\t' || line[b] == '\r'); b++)
			;
		for (e = l;
		     e > b && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r');
		     e--)
			;
		if (e == b)
			continue;
		line[e] = '\0';
		if (count == CZPG_PROBE_MAX_TARGETS) {
			czpg_errf(err, errlen, "line %zu: more than %d targets in one file", lineno,
				CZPG_PROBE_MAX_TARGETS);
			goto out;
		}
		if (count == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			grown = realloc(list, cap * sizeof(*list));
			if (grown == NULL) {
				czpg_errf(err, errlen, "out of memory reading targets");
				goto out;
			}
			list = grown;
		}
		if (czpg_probe_parse_target(line + b, default_port, &list[count], why,
					    sizeof(why)) < 0) {
			czpg_errf(err, errlen, "line %zu: %s", lineno, why);
			goto out;
		}
		count++;
	}
	if (count == 0) {
		czpg_errf(err, errlen, "no targets (only blank lines and comments)");
		goto out;
	}
	*out = list;
	*n = count;
	list = NULL;
	rc = 0;
out:
	free(list);
	return rc;
}

/* ---- findings ----------------------------------------------------------- */

bool czpg_probe_suite_is_weak(const char *suite, char *why, size_t whylen)
{
	bool aead, pfs;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (suite == NULL || strncmp(suite, "TLS_", 4) == 0)
		return false; /* TLS 1.3: always AEAD with (EC)DHE */
	aead = strstr(suite, "GCM") != NULL || strstr(suite, "CHACHA20-POLY1305") != NULL ||
	       strstr(suite, "CCM") != NULL;
	pfs = strncmp(suite, "ECDHE-", 6) == 0 || strncmp(suite, "DHE-", 4) == 0 ||
	      strncmp(suite, "EDH-", 4) == 0;
	if (aead && pfs)
		return false;
	czpg_errf(why, whylen, "%s%s%s", pfs ? "" : "no forward secrecy", !pfs && !aead ? ", " : "",
		aead ? "" : "not AEAD");
	return true;
}

static void add_finding(struct czpg_probe_result *r, enum czpg_probe_severity sev, const char *id,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add_finding(struct czpg_probe_result *r, enum czpg_probe_severity sev, const char *id,
			const char *fmt, ...)
{
	struct czpg_probe_finding *f;
	va_list ap;

	if (r->nfindings == CZPG_PROBE_MAX_FINDINGS)
		return;
	f = &r->findings[r->nfindings++];
	f->severity = sev;
	copy_str(f->id, sizeof(f->id), id);
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
	if (sev > r->worst)
		r->worst = sev;
}

static const char *auth_name(int code)
{
	switch (code) {
	case CZPG_PGWIRE_AUTH_OK:
		return "no password (trust)";
	case CZPG_PGWIRE_AUTH_CLEARTEXT:
		return "a cleartext password";
	case CZPG_PGWIRE_AUTH_MD5:
		return "an MD5 password";
	case CZPG_PGWIRE_AUTH_SASL:
		return "SASL (SCRAM)";
	case CZPG_PGWIRE_AUTH_GSS:
		return "GSSAPI";
	case 9:
		return "SSPI";
	default:
		return "an authentication exchange";
	}
}

/* Appends name to a comma list in buf. */
static void list_add(char *buf, size_t cap, const char *name)
{
	size_t used = strlen(buf);

	snprintf(buf + used, cap - used, "%s%s", used > 0 ? ", " : "", name);
}

void czpg_probe_assess(struct czpg_probe_result *r)
{
	size_t i, k;
	char weak[300], why[64];

	r->nfindings = 0;
	r->worst = CZPG_SEV_INFO;
	if (r->status != CZPG_PROBE_PROBED)
		return;

	if (r->ssl_answer == 'N')
		add_finding(
		    r, CZPG_SEV_HIGH, "tls-off",
		    "the server refuses TLS (it answered 'N' to SSLRequest): connections to "
		    "it can only be plaintext; turn ssl on");
	if (r->plaintext_accepted == CZPG_TRI_YES)
		add_finding(r, CZPG_SEV_HIGH, "plaintext-accepted",
			    "a plaintext startup for user \"%s\" is accepted: the server asks for "
			    "%s instead of refusing it; use hostssl lines only in pg_hba.conf",
			    r->user, auth_name(r->plaintext_auth));

	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		const struct czpg_probe_version *v = &r->versions[i];

		if (v->accepted != CZPG_TRI_YES)
			continue;
		if (v->version == TLS1_2_VERSION)
			add_finding(r, CZPG_SEV_MEDIUM, "tls12-accepted",
				    "TLS 1.2 is accepted; set ssl_min_protocol_version = 'TLSv1.3' "
				    "once every client supports it");
		else if (v->version == TLS1_1_VERSION || v->version == TLS1_VERSION)
			add_finding(r, CZPG_SEV_HIGH,
				    v->version == TLS1_VERSION ? "tls10-accepted"
							       : "tls11-accepted",
				    "%s is accepted (deprecated by RFC 8996); raise "
				    "ssl_min_protocol_version",
				    v->version == TLS1_VERSION ? "TLS 1.0" : "TLS 1.1");
		weak[0] = '\0';
		for (k = 0; k < v->nsuites; k++)
			if (v->suites[k].accepted == CZPG_TRI_YES &&
			    czpg_probe_suite_is_weak(v->suites[k].name, why, sizeof(why))) {
				char item[128];

				snprintf(item, sizeof(item), "%s (%s)", v->suites[k].name, why);
				list_add(weak, sizeof(weak), item);
			}
		if (v->cipher[0] != '\0' && v->nsuites == 0 &&
		    czpg_probe_suite_is_weak(v->cipher, why, sizeof(why))) {
			char item[128];

			snprintf(item, sizeof(item), "%s (%s)", v->cipher, why);
			list_add(weak, sizeof(weak), item);
		}
		if (weak[0] != '\0')
			add_finding(r, CZPG_SEV_HIGH, "weak-suites",
				    "%s accepts weak cipher suites: %s; restrict ssl_ciphers to "
				    "ECDHE with AES-GCM or ChaCha20-Poly1305",
				    v->name, weak);
	}
	if (r->ssl_answer == 'S' && !r->tls_ok) {
		bool any = false;

		for (i = 0; i < CZPG_PROBE_NVERSIONS; i++)
			any = any || r->versions[i].accepted == CZPG_TRI_YES;
		if (!any)
			add_finding(r, CZPG_SEV_HIGH, "tls-handshake-fails",
				    "the server agrees to TLS but no handshake succeeded: %s",
				    r->tls_error[0] != '\0' ? r->tls_error : "no detail");
	}

	if (r->nchain > 0) {
		const struct czpg_cert_info *leaf = &r->chain[0];

		if (leaf->days_left < 0)
			add_finding(r, CZPG_SEV_HIGH, "cert-expired",
				    "the server certificate expired on %s; renew it",
				    leaf->not_after);
		else if (leaf->days_left < 30)
			add_finding(
			    r, CZPG_SEV_MEDIUM, "cert-expiring",
			    "the server certificate expires in %ld day(s), on %s; rotate it",
			    leaf->days_left, leaf->not_after);
		if (r->host_match == CZPG_TRI_NO)
			add_finding(r, CZPG_SEV_HIGH, "name-mismatch",
				    "the certificate does not match %s as verify-full checks it "
				    "(SANs: %s): clients using verify-full will refuse it",
				    r->host, leaf->sans[0] != '\0' ? leaf->sans : "none");
		if (r->ca_given && r->ca_verified == CZPG_TRI_NO)
			add_finding(
			    r, CZPG_SEV_MEDIUM, "ca-unverified",
			    "the certificate chain does not verify against the CA given: %s",
			    r->ca_detail);
		else if (r->ca_given && r->ca_verified == CZPG_TRI_UNKNOWN)
			add_finding(r, CZPG_SEV_MEDIUM, "ca-unverified",
				    "the certificate chain could not be checked against the CA "
				    "given: %s",
				    r->ca_detail[0] != '\0' ? r->ca_detail
							    : "no verifying handshake");
		else if (!r->ca_given)
			add_finding(r, CZPG_SEV_INFO, "ca-not-checked",
				    "the certificate chain was not checked (no --ca given)");
	}

	if (r->tls_ok && r->tls_auth == CZPG_PGWIRE_AUTH_SASL && r->channel_binding == CZPG_TRI_NO)
		add_finding(r, CZPG_SEV_LOW, "no-channel-binding",
			    "SCRAM-SHA-256-PLUS is not offered over TLS (offered: %s): channel "
			    "binding is impossible",
			    r->mechanisms[0] != '\0' ? r->mechanisms : "nothing");
	else if (r->tls_ok && r->tls_auth >= 0 && r->tls_auth != CZPG_PGWIRE_AUTH_SASL)
		add_finding(r, CZPG_SEV_LOW, "no-channel-binding",
			    "over TLS the server asks user \"%s\" for %s, not SCRAM: channel "
			    "binding is impossible",
			    r->user, auth_name(r->tls_auth));

	if (r->direct_tls == CZPG_TRI_YES)
		add_finding(r, CZPG_SEV_INFO, "direct-tls",
			    "the server accepts direct TLS (ALPN \"postgresql\", PostgreSQL 17+)");
	if (r->gssenc_answer == 'G')
		add_finding(r, CZPG_SEV_INFO, "gssenc-offered",
			    "the server answers 'G' to GSSENCRequest (GSSAPI encryption is "
			    "available)");
	if (r->deadline_hit)
		add_finding(r, CZPG_SEV_INFO, "incomplete",
			    "some checks did not finish before the per-target deadline");
}

enum czpg_result czpg_probe_outcome(const struct czpg_probe_result *res)
{
	if (res->status != CZPG_PROBE_PROBED)
		return CZPG_RESULT_ERROR;
	return res->worst >= CZPG_SEV_MEDIUM ? CZPG_RESULT_FAIL : CZPG_RESULT_OK;
}

/* ---- TLS configurations (shared by every target) --------------------------- */

static struct czpg_tls_config *cfg_base(struct run *r, int minv, int maxv, bool legacy)
{
	struct czpg_tls_config *c = czpg_tls_config_new(r->err, sizeof(r->err));

	if (c == NULL)
		return NULL;
	czpg_tls_config_insecure_noverify(c);
	if ((legacy && czpg_tls_config_insecure_seclevel0(c) < 0) ||
	    czpg_tls_config_set_min_version(c, minv) < 0 ||
	    czpg_tls_config_set_max_version(c, maxv) < 0) {
		copy_str(r->err, sizeof(r->err), czpg_tls_config_error(c));
		czpg_tls_config_free(c);
		return NULL;
	}
	return c;
}

/* Suites to offer when everything should be offered. */
static int offer_all(struct czpg_tls_config *c, int version)
{
	if (version == TLS1_3_VERSION)
		return czpg_tls_config_set_ciphersuites(
		    c, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
		       "TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256");
	return czpg_tls_config_set_cipher_list(c, "ALL:@SECLEVEL=0");
}

static struct czpg_tls_config *get_cfg_version(struct run *r, int vi)
{
	struct czpg_tls_config *c;
	int v = version_table[vi].version;

	if (r->cfg_version[vi] != NULL)
		return r->cfg_version[vi];
	c = cfg_base(r, v, v, true);
	if (c != NULL && offer_all(c, v) < 0) {
		copy_str(r->err, sizeof(r->err), czpg_tls_config_error(c));
		czpg_tls_config_free(c);
		c = NULL;
	}
	r->cfg_version[vi] = c;
	return c;
}

static const char *suite_name(int vi, int idx)
{
	if (vi == 0)
		return tls13_suites[idx];
	return tls12_suites[idx].name;
}

/* NULL when this OpenSSL cannot offer the suite (it is then skipped). */
static struct czpg_tls_config *get_cfg_suite(struct run *r, int vi, int idx)
{
	struct czpg_tls_config *c;
	int v = version_table[vi].version, rc;

	if (r->cfg_suite[vi][idx] != NULL || r->suite_unusable[vi][idx])
		return r->cfg_suite[vi][idx];
	c = cfg_base(r, v, v, true);
	if (c == NULL)
		return NULL;
	if (vi == 0)
		rc = czpg_tls_config_set_ciphersuites(c, suite_name(vi, idx));
	else
		rc = czpg_tls_config_set_cipher_list(c, suite_name(vi, idx));
	if (rc < 0) {
		czpg_tls_config_free(c);
		r->suite_unusable[vi][idx] = true;
		return NULL;
	}
	r->cfg_suite[vi][idx] = c;
	return c;
}

/* Offers the groups in mask (bits of group_table), in table order. */
static struct czpg_tls_config *get_cfg_group(struct run *r, int vi, unsigned mask)
{
	struct czpg_tls_config **slot, *c;
	int v = version_table[vi].version;
	char list[200];
	size_t i;

	if (r->cfg_group == NULL) {
		r->cfg_group = calloc((size_t)2 << N_GROUPS, sizeof(*r->cfg_group));
		if (r->cfg_group == NULL)
			return NULL;
	}
	slot = &r->cfg_group[((size_t)(vi == 0 ? 0 : 1) << N_GROUPS) | mask];
	if (*slot != NULL)
		return *slot;
	list[0] = '\0';
	for (i = 0; i < N_GROUPS; i++)
		if (mask & (1u << i)) {
			size_t used = strlen(list);

			snprintf(list + used, sizeof(list) - used, "%s%s", used > 0 ? ":" : "",
				 group_table[i].name);
		}
	c = cfg_base(r, v, v, true);
	if (c == NULL)
		return NULL;
	if (czpg_tls_config_set_groups(c, list) < 0 ||
	    (vi == 0 ? offer_all(c, v) : czpg_tls_config_set_cipher_list(c, "kECDHE:@SECLEVEL=0")) <
		0) {
		czpg_tls_config_free(c);
		return NULL;
	}
	*slot = c;
	return c;
}

static size_t order_index(int vi, int a, int b, int dir)
{
	return (((size_t)vi * CZPG_PROBE_MAX_SUITES + (size_t)a) * CZPG_PROBE_MAX_SUITES +
		(size_t)b) *
		   2 +
	       (size_t)dir;
}

static struct czpg_tls_config *get_cfg_order(struct run *r, int vi, int a, int b, int dir)
{
	size_t k = order_index(vi, a, b, dir);
	struct czpg_tls_config *c;
	char list[200];
	int v = version_table[vi].version, rc;

	if (r->cfg_order == NULL) {
		r->cfg_order = calloc((size_t)CZPG_PROBE_NVERSIONS * CZPG_PROBE_MAX_SUITES *
					  CZPG_PROBE_MAX_SUITES * 2,
				      sizeof(*r->cfg_order));
		if (r->cfg_order == NULL)
			return NULL;
	}
	if (r->cfg_order[k] != NULL)
		return r->cfg_order[k];
	c = cfg_base(r, v, v, true);
	if (c == NULL)
		return NULL;
	snprintf(list, sizeof(list), "%s:%s", suite_name(vi, dir == 0 ? a : b),
		 suite_name(vi, dir == 0 ? b : a));
	if (vi == 0)
		rc = czpg_tls_config_set_ciphersuites(c, list);
	else
		rc = czpg_tls_config_set_cipher_list(c, list);
	if (rc < 0) {
		czpg_tls_config_free(c);
		return NULL;
	}
	r->cfg_order[k] = c;
	return c;
}

static int make_shared_configs(struct run *r)
{
	r->cfg_main = cfg_base(r, TLS1_2_VERSION, 0, false);
	if (r->cfg_main == NULL)
		return -1;
	r->cfg_direct = cfg_base(r, TLS1_2_VERSION, 0, false);
	if (r->cfg_direct == NULL || czpg_tls_config_set_alpn(r->cfg_direct, "postgresql") < 0) {
		if (r->cfg_direct != NULL)
			copy_str(r->err, sizeof(r->err), czpg_tls_config_error(r->cfg_direct));
		return -1;
	}
	if (r->opt->ca_file != NULL) {
		r->cfg_verify = czpg_tls_config_new(r->err, sizeof(r->err));
		if (r->cfg_verify == NULL)
			return -1;
		if (czpg_tls_config_set_ca_file(r->cfg_verify, r->opt->ca_file) < 0 ||
		    czpg_tls_config_set_min_version(r->cfg_verify, TLS1_2_VERSION) < 0) {
			copy_str(r->err, sizeof(r->err), czpg_tls_config_error(r->cfg_verify));
			return -1;
		}
	}
	return 0;
}

static void free_configs(struct run *r)
{
	size_t i, j, n;

	czpg_tls_config_free(r->cfg_main);
	czpg_tls_config_free(r->cfg_verify);
	czpg_tls_config_free(r->cfg_direct);
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		czpg_tls_config_free(r->cfg_version[i]);
		for (j = 0; j < CZPG_PROBE_MAX_SUITES; j++)
			czpg_tls_config_free(r->cfg_suite[i][j]);
	}
	if (r->cfg_group != NULL) {
		for (i = 0; i < ((size_t)2 << N_GROUPS); i++)
			czpg_tls_config_free(r->cfg_group[i]);
		free(r->cfg_group);
	}
	if (r->cfg_order != NULL) {
		n = (size_t)CZPG_PROBE_NVERSIONS * CZPG_PROBE_MAX_SUITES * CZPG_PROBE_MAX_SUITES *
		    2;
		for (i = 0; i < n; i++)
			czpg_tls_config_free(r->cfg_order[i]);
		free(r->cfg_order);
	}
}

/* ---- tasks --------------------------------------------------------------- */

static struct task *add_task(struct target *t, enum task_kind kind, int vi, int idx,
			     struct czpg_tls_config *cfg)
{
	struct task *k;

	if (t->ntasks == PROBE_MAX_TASKS || t->expired)
		return NULL;
	k = &t->tasks[t->ntasks++];
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->vi = vi;
	k->idx = idx;
	k->cfg = cfg;
	k->slot = -1;
	k->t = t;
	return k;
}

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
		if (czpg_tls_describe_cert(czpg_tls_peer_chain_cert(tls, i), &res->chain[i]) == 0)
			res->nchain = i + 1;
	leaf = czpg_tls_peer_certificate(tls);
	if (leaf == NULL)
		return;
	/* The same rule as verify-full (tlsio): SANs only, no partial wildcards. */
	if (czpg_is_ip_literal(res->host))
		m = X509_check_ip_asc(leaf, res->host, 0);
	else
		m = X509_check_host(leaf, res->host, 0,
				    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
					X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
				    NULL);
	res->host_match = m == 1 ? CZPG_TRI_YES : CZPG_TRI_NO;
}

/* A TLS-level refusal (as opposed to not being able to ask at all). */
static bool refused_in_tls(struct czpg_conn *c)
{
	return czpg_conn_phase(c) == CZPG_PHASE_FAILED &&
	       czpg_conn_failed_phase(c) == CZPG_PHASE_TLS;
}

static void spawn_after_gate(struct run *r, struct target *t);

/*
 * A TLS 1.2-and-older suite fixes the certificate type: ECDSA suites need an
 * EC (or EdDSA) key, the others an RSA key.  Suites the server's certificate
 * cannot serve are not tried (the server could only refuse them).
 */
static bool suite_fits_key(const char *suite, const struct czpg_probe_result *res)
{
	const char *key = res->nchain > 0 ? res->chain[0].key : "";
	bool ecdsa_suite = strstr(suite, "-ECDSA-") != NULL;

	if (strncmp(key, "EC ", 3) == 0 || strcmp(key, "EC") == 0 || strncmp(key, "Ed", 2) == 0)
		return ecdsa_suite;
	if (strncmp(key, "RSA", 3) == 0)
		return !ecdsa_suite;
	return true; /* unknown key type: try everything */
}
static void maybe_spawn_groups(struct run *r, struct target *t);

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
	}
}

/* The result entry of group_table[gi], or NULL. */
static struct czpg_probe_group *group_entry(struct czpg_probe_result *res, size_t gi)
{
	size_t i;

	for (i = 0; i < res->ngroups; i++)
		if (strcmp(res->groups[i].name, group_table[gi].name) == 0)
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
	struct czpg_tls_config *cfg = mask != 0 ? get_cfg_group(r, t->group_vi, mask) : NULL;

	if (cfg != NULL)
		add_task(t, T_GROUP, t->group_vi, (int)mask, cfg);
}

static void group_result(struct run *r, struct target *t, struct task *k, struct czpg_conn *c)
{
	struct czpg_probe_result *res = t->res;
	struct czpg_tls *tls = czpg_conn_tls(c);
	unsigned mask = (unsigned)k->idx;
	const char *got;
	size_t i;

	if (tls != NULL && czpg_tls_handshake_done(tls) && (got = czpg_tls_group(tls)) != NULL) {
		for (i = 0; i < N_GROUPS; i++) {
			struct czpg_probe_group *g = group_entry(res, i);

			if ((mask & (1u << i)) && g != NULL &&
			    (strcasecmp(got, group_table[i].openssl) == 0 ||
			     strcasecmp(got, group_table[i].name) == 0)) {
				g->accepted = CZPG_TRI_YES;
				spawn_group(r, t, mask & ~(1u << i));
				return;
			}
		}
		return; /* a group we did not offer: leave the rest unknown */
	}
	if (!refused_in_tls(c))
		return;
	for (i = 0; i < N_GROUPS; i++) {
		struct czpg_probe_group *g = group_entry(res, i);

		if ((mask & (1u << i)) && g != NULL)
			g->accepted = CZPG_TRI_NO;
	}
}

/* Every suite of version vi alone (once the version is known to be accepted). */
static void spawn_suites(struct run *r, struct target *t, int vi)
{
	struct czpg_probe_result *res = t->res;
	struct czpg_probe_version *v = &res->versions[vi];
	size_t i, n = vi == 0 ? N_TLS13_SUITES : N_TLS12_SUITES;

	if (t->suites_spawned[vi])
		return;
	t->suites_spawned[vi] = true;
	for (i = 0; i < n && v->nsuites < CZPG_PROBE_MAX_SUITES; i++) {
		struct czpg_tls_config *cfg;

		if (vi >= 2 && !tls12_suites[i].legacy)
			continue;
		if (vi >= 1 && !suite_fits_key(tls12_suites[i].name, res))
			continue;
		cfg = get_cfg_suite(r, vi, (int)i);
		if (cfg == NULL)
			continue; /* this OpenSSL cannot offer it */
		v->suites[v->nsuites].name = suite_name(vi, (int)i);
		v->suites[v->nsuites].accepted = CZPG_TRI_UNKNOWN;
		if (add_task(t, T_SUITE, vi, (int)v->nsuites, cfg) != NULL)
			t->suites_pending[vi]++;
		v->nsuites++;
	}
}

static void record_task(struct run *r, struct task *k, struct czpg_conn *c)
{
	struct target *t = k->t;
	struct czpg_probe_result *res = t->res;
	struct czpg_tls *tls = czpg_conn_tls(c);
	bool done = czpg_conn_phase(c) == CZPG_PHASE_DONE;
	bool hs = tls != NULL && czpg_tls_handshake_done(tls);
	struct czpg_probe_version *v =
	    k->vi >= 0 && k->vi < CZPG_PROBE_NVERSIONS ? &res->versions[k->vi] : NULL;
	enum czpg_probe_tri yesno;

	if (hs)
		capture_chain(t, tls);
	switch (k->kind) {
	case T_MAIN:
		classify_main(t, c);
		if (hs) {
			res->tls_ok = true;
			copy_str(res->tls_version, sizeof(res->tls_version), czpg_tls_version(tls));
			copy_str(res->tls_cipher, sizeof(res->tls_cipher), czpg_tls_cipher(tls));
			copy_str(res->tls_group, sizeof(res->tls_group), czpg_tls_group(tls));
			record_auth(res, c);
		} else if (res->ssl_answer == 'S') {
			copy_str(res->tls_error, sizeof(res->tls_error), czpg_conn_error(c));
		}
		if (res->status == CZPG_PROBE_PROBED) {
			t->gate_open = true;
			spawn_after_gate(r, t);
		}
		break;
	case T_PLAIN:
		if (done) {
			res->plaintext_accepted = CZPG_TRI_YES;
			res->plaintext_auth = czpg_conn_auth_request(c);
			snprintf(res->plaintext_detail, sizeof(res->plaintext_detail),
				 "the server asked for %s", auth_name(res->plaintext_auth));
		} else {
			copy_str(res->plaintext_sqlstate, sizeof(res->plaintext_sqlstate),
				 czpg_conn_startup_sqlstate(c));
			res->plaintext_accepted =
			    res->plaintext_sqlstate[0] != '\0' ? CZPG_TRI_NO : CZPG_TRI_UNKNOWN;
			copy_str(res->plaintext_detail, sizeof(res->plaintext_detail),
				 czpg_conn_error(c));
		}
		break;
	case T_GSSENC:
		res->gssenc_answer = czpg_conn_ssl_answer(c);
		if (!done)
			copy_str(res->gssenc_detail, sizeof(res->gssenc_detail),
				 czpg_conn_error(c));
		else
			snprintf(res->gssenc_detail, sizeof(res->gssenc_detail), "%s",
				 res->gssenc_answer == 'G' ? "GSSAPI encryption offered"
							   : "GSSAPI encryption not offered");
		break;
	case T_DIRECT:
		res->direct_tls = hs                  ? CZPG_TRI_YES
				  : refused_in_tls(c) ? CZPG_TRI_NO
						      : CZPG_TRI_UNKNOWN;
		if (hs)
			copy_str(res->direct_alpn, sizeof(res->direct_alpn), czpg_tls_alpn(tls));
		else
			copy_str(res->direct_detail, sizeof(res->direct_detail),
				 czpg_conn_error(c));
		break;
	case T_VERIFY:
		if (hs) {
			res->ca_verified = CZPG_TRI_YES;
			snprintf(res->ca_detail, sizeof(res->ca_detail),
				 "verify-full handshake succeeded");
		} else {
			long code = tls != NULL ? czpg_tls_verify_result(tls) : X509_V_OK;

			copy_str(res->ca_detail, sizeof(res->ca_detail), czpg_conn_error(c));
			if (code == X509_V_ERR_HOSTNAME_MISMATCH ||
			    code == X509_V_ERR_IP_ADDRESS_MISMATCH)
				res->ca_verified =
				    CZPG_TRI_YES; /* the chain was fine; the name was not */
			else if (code != X509_V_OK)
				res->ca_verified = CZPG_TRI_NO;
			else
				res->ca_verified = CZPG_TRI_UNKNOWN;
		}
		break;
	case T_VERSION:
		yesno = hs ? CZPG_TRI_YES : refused_in_tls(c) ? CZPG_TRI_NO : CZPG_TRI_UNKNOWN;
		v->accepted = yesno;
		if (hs)
			copy_str(v->cipher, sizeof(v->cipher), czpg_tls_cipher(tls));
		else
			copy_str(v->detail, sizeof(v->detail), czpg_conn_error(c));
		t->version_done[k->vi] = true;
		if (hs && !r->opt->quick)
			spawn_suites(r, t, k->vi);
		maybe_spawn_groups(r, t);
		break;
	case T_SUITE:
		v->suites[k->idx].accepted = hs                  ? CZPG_TRI_YES
					     : refused_in_tls(c) ? CZPG_TRI_NO
								 : CZPG_TRI_UNKNOWN;
		if (t->suites_pending[k->vi] > 0 && --t->suites_pending[k->vi] == 0) {
			int a = -1, b = -1;
			size_t i;

			for (i = 0; i < v->nsuites; i++) {
				if (v->suites[i].accepted != CZPG_TRI_YES)
					continue;
				if (a < 0)
					a = (int)i;
				else if (b < 0)
					b = (int)i;
			}
			if (b < 0) {
				snprintf(v->order_detail, sizeof(v->order_detail),
					 "fewer than two suites accepted");
				break;
			}
			t->order_a[k->vi] = a;
			t->order_b[k->vi] = b;
			for (i = 0; i < 2; i++) {
				/* Table indexes of the two suites (nsuites entries map 1:1
				 * for 1.3/1.2). */
				int ta = -1, tb = -1, j,
				    n = k->vi == 0 ? (int)N_TLS13_SUITES : (int)N_TLS12_SUITES;
				struct czpg_tls_config *cfg;

				for (j = 0; j < n; j++) {
					if (strcmp(suite_name(k->vi, j), v->suites[a].name) == 0)
						ta = j;
					if (strcmp(suite_name(k->vi, j), v->suites[b].name) == 0)
						tb = j;
				}
				cfg = ta >= 0 && tb >= 0 ? get_cfg_order(r, k->vi, ta, tb, (int)i)
							 : NULL;
				if (cfg != NULL && add_task(t, T_ORDER, k->vi, (int)i, cfg) != NULL)
					t->order_pending[k->vi]++;
			}
		}
		break;
	case T_GROUP:
		group_result(r, t, k, c);
		break;
	case T_ORDER:
		copy_str(t->order_got[k->vi][k->idx], sizeof(t->order_got[0][0]),
			 hs ? czpg_tls_cipher(tls) : "");
		if (t->order_pending[k->vi] > 0 && --t->order_pending[k->vi] == 0) {
			const char *g0 = t->order_got[k->vi][0], *g1 = t->order_got[k->vi][1];
			const char *a = v->suites[t->order_a[k->vi]].name;
			const char *b = v->suites[t->order_b[k->vi]].name;

			if (g0[0] == '\0' || g1[0] == '\0') {
				v->server_order = CZPG_TRI_UNKNOWN;
				snprintf(v->order_detail, sizeof(v->order_detail),
					 "a handshake offering %s and %s failed", a, b);
			} else if (strcmp(g0, g1) == 0) {
				v->server_order = CZPG_TRI_YES;
				snprintf(v->order_detail, sizeof(v->order_detail),
					 "%s chosen whichever the client offered first", g0);
			} else {
				v->server_order = CZPG_TRI_NO;
				snprintf(v->order_detail, sizeof(v->order_detail),
					 "the client's first choice wins (%s / %s)", g0, g1);
			}
		}
		break;
	}
}

static void maybe_spawn_groups(struct run *r, struct target *t)
{
	struct czpg_probe_result *res = t->res;
	int vi = -1;
	size_t i;

	unsigned mask = 0;

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
	res->groups_over = version_table[vi].name;
	t->group_vi = vi;
	for (i = 0; i < N_GROUPS && res->ngroups < CZPG_PROBE_MAX_GROUPS; i++) {
		if (vi != 0 && !group_table[i].ec)
			continue;
		res->groups[res->ngroups].name = group_table[i].name;
		res->groups[res->ngroups].accepted = CZPG_TRI_UNKNOWN;
		res->ngroups++;
		mask |= 1u << i;
	}
	spawn_group(r, t, mask);
}

static void spawn_after_gate(struct run *r, struct target *t)
{
	struct czpg_probe_result *res = t->res;
	int vi;

	add_task(t, T_PLAIN, -1, 0, NULL);
	if (res->ssl_answer != 'S') {
		/* No TLS behind SSLRequest: nothing to enumerate. */
		if (!r->opt->quick) {
			add_task(t, T_GSSENC, -1, 0, NULL);
			add_task(t, T_DIRECT, -1, 0, r->cfg_direct);
		}
		return;
	}
	if (r->cfg_verify != NULL)
		add_task(t, T_VERIFY, -1, 0, r->cfg_verify);
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
		cfg = get_cfg_version(r, vi);
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
		add_task(t, T_DIRECT, -1, 0, r->cfg_direct);
	}
}

static void on_release(struct czpg_conn *c, void *user)
{
	struct run *r = user;
	struct task *k = czpg_conn_user_data(c);

	record_task(r, k, c);
	k->done = true;
	k->conn = NULL;
	k->t->running--;
	czpg_conn_free(c);
}

static int start_task(struct run *r, struct task *k)
{
	struct target *t = k->t;
	struct czpg_conn_config cc = {0};
	char err[256];

	cc.host = t->res->host;
	cc.user = r->user;
	cc.dbname = r->user;
	cc.application_name = "czctl-probe";
	cc.phase_timeout_ms = r->timeout_ms;
	cc.user_data = k;
	cc.tls = k->cfg;
	cc.use_tls = k->cfg != NULL;
	switch (k->kind) {
	case T_MAIN:
		cc.tls = r->cfg_main;
		cc.use_tls = true;
		cc.goal = CZPG_GOAL_AUTH_REQUEST;
		break;
	case T_PLAIN:
		cc.goal = CZPG_GOAL_AUTH_REQUEST;
		break;
	case T_GSSENC:
		cc.opening = CZPG_OPEN_GSSENC_REQUEST;
		break;
	case T_DIRECT:
		cc.opening = CZPG_OPEN_DIRECT_TLS;
		cc.goal = CZPG_GOAL_TLS;
		break;
	default:
		cc.goal = CZPG_GOAL_TLS;
		break;
	}
	k->started = true;
	k->conn = czpg_conn_new(&cc, czpg_engine_now_ns(), err, sizeof(err));
	if (k->conn == NULL) {
		k->done = true; /* the check stays unknown */
		if (k->kind == T_MAIN) {
			t->res->status = CZPG_PROBE_ERROR;
			copy_str(t->res->status_detail, sizeof(t->res->status_detail), err);
		}
		return 0;
	}
	k->slot = czpg_engine_connect(r->engine, k->conn, (const struct sockaddr *)&t->addr,
				      t->addrlen, NULL, 0, t->res->target, err, sizeof(err));
	if (k->slot < 0) {
		czpg_conn_free(k->conn);
		k->conn = NULL;
		if (czpg_engine_active(r->engine) >= r->nslots) {
			k->started = false; /* try again when a slot frees */
			return -1;
		}
		/* A local failure (socket(), descriptors): the check stays unknown. */
		k->done = true;
		if (k->kind == T_MAIN) {
			t->res->status = CZPG_PROBE_ERROR;
			copy_str(t->res->status_detail, sizeof(t->res->status_detail), err);
		}
		return 0;
	}
	t->running++;
	t->res->connections++;
	return 0;
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

/* The deadline passed: fail open connections, drop what has not started. */
static void expire_target(struct run *r, struct target *t)
{
	size_t i;
	char msg[160];

	t->res->deadline_hit = true;
	snprintf(msg, sizeof(msg), "the per-target deadline (%u ms) passed", r->timeout_ms);
	for (i = 0; i < t->ntasks; i++) {
		struct task *k = &t->tasks[i];

		if (k->conn != NULL && !czpg_conn_finished(k->conn)) {
			czpg_conn_fail_transport(k->conn, msg);
			czpg_engine_wake(r->engine, k->slot);
		}
	}
	t->next = t->ntasks;
	t->expired = true;
	t->deadline_ns = UINT64_MAX;
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
		res->versions[i].name = version_table[i].name;
		res->versions[i].version = version_table[i].version;
	}
}

static void start_target(struct run *r, struct target *t, const struct czpg_probe_target *tg,
			 size_t index)
{
	struct czpg_probe_result *res = t->res;
	char err[300];

	memset(t, 0, sizeof(*t));
	t->res = res;
	t->index = index;
	t->active = true;
	t->start_ns = czpg_engine_now_ns();
	t->deadline_ns = t->start_ns + (uint64_t)r->timeout_ms * 1000000ull;
	init_result(t->res, tg, r);
	if (czpg_engine_resolve(tg->host, tg->port, &t->addr, &t->addrlen, err, sizeof(err)) < 0) {
		t->res->status = CZPG_PROBE_UNREACHABLE;
		copy_str(t->res->status_detail, sizeof(t->res->status_detail), err);
		return;
	}
	add_task(t, T_MAIN, -1, 0, r->cfg_main);
}

static void finish_target(struct run *r, struct target *t)
{
	t->res->elapsed_ms = (double)(czpg_engine_now_ns() - t->start_ns) / 1e6;
	czpg_probe_assess(t->res);
	t->active = false;
	if (r->opt->on_result != NULL)
		r->opt->on_result(t->res, t->index, r->opt->cb_user);
}

int czpg_probe_run(const struct czpg_probe_options *opt, const struct czpg_probe_target *targets,
		   size_t n, char *err, size_t errlen)
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
		return -1;
	}
	conc = opt->concurrency != 0 ? opt->concurrency : PROBE_DEFAULT_CONCURRENCY;
	if (conc > n)
		conc = (unsigned)n;
	r.per_target = opt->per_target != 0 ? opt->per_target : (n == 1 ? 64u : 8u);
	nslots = conc * r.per_target;
	if (nslots > PROBE_MAX_SLOTS)
		nslots = PROBE_MAX_SLOTS;
	if (make_shared_configs(&r) < 0) {
		czpg_errf(err, errlen, "%s", r.err);
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
					start_target(&r, t, &targets[next], next);
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
		}
	}
	czpg_engine_free(r.engine);
	free(slots);
	free(results);
	free_configs(&r);
	return rc;
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

/* ---- output --------------------------------------------------------------- */

static const char *answer_text(char a)
{
	switch (a) {
	case 'S':
		return "S (TLS offered)";
	case 'N':
		return "N (TLS refused: ssl is off)";
	case 'E':
		return "E (an error instead of an answer)";
	case 0:
		return "none";
	default:
		return "unexpected byte (not PostgreSQL)";
	}
}

static void print_version(FILE *out, const struct czpg_probe_version *v)
{
	size_t i;
	char acc[1200], ref[1400];

	if (v->accepted == CZPG_TRI_YES)
		fprintf(out, "  %-8s accepted", v->name);
	else if (v->accepted == CZPG_TRI_NO)
		fprintf(out, "  %-8s refused", v->name);
	else
		fprintf(out, "  %-8s unknown%s%s%s", v->name, v->detail[0] != '\0' ? " (" : "",
			v->detail, v->detail[0] != '\0' ? ")" : "");
	if (v->accepted == CZPG_TRI_YES && v->cipher[0] != '\0' && v->nsuites == 0)
		fprintf(out, " (%s)", v->cipher);
	fputc('\n', out);
	if (v->nsuites == 0)
		return;
	acc[0] = ref[0] = '\0';
	for (i = 0; i < v->nsuites; i++) {
		if (v->suites[i].accepted == CZPG_TRI_YES)
			list_add(acc, sizeof(acc), v->suites[i].name);
		else if (v->suites[i].accepted == CZPG_TRI_UNKNOWN)
			list_add(ref, sizeof(ref), v->suites[i].name);
	}
	fprintf(out, "           suites accepted: %s\n", acc[0] != '\0' ? acc : "none");
	if (ref[0] != '\0')
		fprintf(out, "           suites not determined: %s\n", ref);
	fprintf(out, "           server preference order: %s%s%s%s\n",
		v->server_order == CZPG_TRI_YES  ? "yes"
		: v->server_order == CZPG_TRI_NO ? "no"
						 : "not determined",
		v->order_detail[0] != '\0' ? " (" : "", v->order_detail,
		v->order_detail[0] != '\0' ? ")" : "");
}

void czpg_probe_print(FILE *out, const struct czpg_probe_result *res)
{
	size_t i;
	char acc[400], ref[400];

	fprintf(out, "probe %s (user %s%s): %s in %.0f ms, %u connection(s)\n", res->target,
		res->user, res->quick ? ", quick" : "", czpg_probe_status_name(res->status),
		res->elapsed_ms, res->connections);
	if (res->status != CZPG_PROBE_PROBED) {
		fprintf(out, "  could not probe: %s\n",
			res->status_detail[0] != '\0' ? res->status_detail : "no detail");
		return;
	}
	fprintf(out, "SSLRequest answer: %s\n", answer_text(res->ssl_answer));
	if (res->tls_ok)
		fprintf(out, "Default negotiation: %s / %s / %s\n", res->tls_version,
			res->tls_cipher, res->tls_group[0] != '\0' ? res->tls_group : "-");
	else if (res->ssl_answer == 'S')
		fprintf(out, "Default negotiation: failed (%s)\n", res->tls_error);
	if (res->ssl_answer == 'S') {
		fprintf(out, "Protocol versions:\n");
		for (i = 0; i < CZPG_PROBE_NVERSIONS; i++)
			print_version(out, &res->versions[i]);
		if (res->groups_over != NULL) {
			acc[0] = ref[0] = '\0';
			for (i = 0; i < res->ngroups; i++)
				list_add(res->groups[i].accepted == CZPG_TRI_YES ? acc : ref,
					 sizeof(acc), res->groups[i].name);
			fprintf(out,
				"Key exchange groups (over %s): accepted %s; not accepted %s\n",
				res->groups_over, acc[0] != '\0' ? acc : "none",
				ref[0] != '\0' ? ref : "none");
		} else {
			fprintf(out, "Key exchange groups: not checked\n");
		}
		fprintf(out, "Session resumption: %s\n", res->resumption);
	}
	if (res->nchain > 0) {
		fprintf(out, "Certificate chain (%zu sent):\n", res->chain_sent);
		for (i = 0; i < res->nchain; i++) {
			const struct czpg_cert_info *c = &res->chain[i];

			fprintf(out, "  [%zu] subject: %s\n", i, c->subject);
			fprintf(out, "      issuer:  %s\n", c->issuer);
			fprintf(out, "      SANs:    %s\n", c->sans[0] != '\0' ? c->sans : "none");
			fprintf(out, "      key %s, signature %s\n", c->key, c->sig_alg);
			fprintf(out, "      valid %s to %s (%ld day(s) left)\n", c->not_before,
				c->not_after, c->days_left);
		}
		fprintf(out, "  matches host %s (verify-full rule): %s\n", res->host,
			czpg_probe_tri_name(res->host_match));
		if (res->ca_given)
			fprintf(out, "  verifies against the CA: %s (%s)\n",
				czpg_probe_tri_name(res->ca_verified), res->ca_detail);
		else
			fprintf(out, "  verifies against a CA: not checked (no --ca)\n");
	}
	fprintf(out, "Plaintext startup (user %s): %s%s%s%s\n", res->user,
		res->plaintext_accepted == CZPG_TRI_YES  ? "ACCEPTED"
		: res->plaintext_accepted == CZPG_TRI_NO ? "refused"
							 : "unknown",
		res->plaintext_sqlstate[0] != '\0' ? " (SQLSTATE " : "", res->plaintext_sqlstate,
		res->plaintext_sqlstate[0] != '\0' ? ")" : "");
	if (res->plaintext_detail[0] != '\0')
		fprintf(out, "  %s\n", res->plaintext_detail);
	if (res->tls_auth == CZPG_PGWIRE_AUTH_SASL)
		fprintf(out, "SASL over TLS: %s (channel binding %s)\n", res->mechanisms,
			res->channel_binding == CZPG_TRI_YES ? "available" : "NOT available");
	else if (res->tls_auth >= 0)
		fprintf(out, "Authentication over TLS: %s\n", auth_name(res->tls_auth));
	else if (res->ssl_answer == 'S')
		fprintf(out, "Authentication over TLS: unknown%s%s%s\n",
			res->auth_detail[0] != '\0' ? " (" : "", res->auth_detail,
			res->auth_detail[0] != '\0' ? ")" : "");
	if (!res->quick) {
		fprintf(out, "Direct TLS (ALPN postgresql): %s%s%s%s\n",
			czpg_probe_tri_name(res->direct_tls),
			res->direct_detail[0] != '\0' ? " (" : "", res->direct_detail,
			res->direct_detail[0] != '\0' ? ")" : "");
		fprintf(out, "GSSENCRequest answer: %c%s%s%s\n",
			res->gssenc_answer >= 0x21 && res->gssenc_answer < 0x7f ? res->gssenc_answer
										: '-',
			res->gssenc_detail[0] != '\0' ? " (" : "", res->gssenc_detail,
			res->gssenc_detail[0] != '\0' ? ")" : "");
	}
	fprintf(out, "Findings (worst: %s):\n", czpg_probe_severity_name(res->worst));
	if (res->nfindings == 0)
		fprintf(out, "  none\n");
	for (i = 0; i < res->nfindings; i++) {
		char tag[16];
		size_t j;

		copy_str(tag, sizeof(tag), czpg_probe_severity_name(res->findings[i].severity));
		for (j = 0; tag[j] != '\0'; j++)
			tag[j] = (char)(tag[j] >= 'a' && tag[j] <= 'z' ? tag[j] - 32 : tag[j]);
		fprintf(out, "  [%s] %s: %s\n", tag, res->findings[i].id, res->findings[i].text);
	}
}

static void json_tri(struct czpg_json *j, const char *key, enum czpg_probe_tri t)
{
	czpg_json_key(j, key);
	if (t == CZPG_TRI_UNKNOWN)
		czpg_json_null(j);
	else
		czpg_json_bool(j, t == CZPG_TRI_YES);
}

static void json_char(struct czpg_json *j, const char *key, char c)
{
	char s[2] = {c, '\0'};

	if (c == 0)
		czpg_json_kv_string(j, key, NULL);
	else
		czpg_json_kv_string(j, key, s);
}

static void json_str_or_null(struct czpg_json *j, const char *key, const char *s)
{
	czpg_json_kv_string(j, key, s != NULL && s[0] != '\0' ? s : NULL);
}

void czpg_probe_print_json(FILE *out, const struct czpg_probe_result *res)
{
	struct czpg_json j;
	size_t i, k;

	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "target", res->target);
	czpg_json_kv_string(&j, "host", res->host);
	czpg_json_kv_uint(&j, "port", res->port);
	czpg_json_kv_string(&j, "user", res->user);
	czpg_json_kv_bool(&j, "quick", res->quick);
	czpg_json_kv_string(&j, "status", czpg_probe_status_name(res->status));
	json_str_or_null(&j, "status_detail", res->status_detail);
	czpg_json_kv_double(&j, "elapsed_ms", res->elapsed_ms);
	czpg_json_kv_uint(&j, "connections", res->connections);
	czpg_json_kv_bool(&j, "deadline_hit", res->deadline_hit);
	json_char(&j, "ssl_answer",
		  res->ssl_answer >= 0x20 && res->ssl_answer < 0x7f ? res->ssl_answer
		  : res->ssl_answer != 0                            ? '?'
								    : 0);

	czpg_json_key(&j, "negotiated");
	if (res->tls_ok) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "version", res->tls_version);
		czpg_json_kv_string(&j, "cipher", res->tls_cipher);
		json_str_or_null(&j, "group", res->tls_group);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}
	json_str_or_null(&j, "tls_error", res->tls_error);

	czpg_json_key(&j, "versions");
	czpg_json_array_begin(&j);
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		const struct czpg_probe_version *v = &res->versions[i];

		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "version", v->name);
		json_tri(&j, "accepted", v->accepted);
		json_str_or_null(&j, "cipher", v->cipher);
		json_str_or_null(&j, "detail", v->detail);
		czpg_json_key(&j, "suites");
		if (v->nsuites == 0) {
			czpg_json_null(&j);
		} else {
			czpg_json_array_begin(&j);
			for (k = 0; k < v->nsuites; k++) {
				czpg_json_object_begin(&j);
				czpg_json_kv_string(&j, "name", v->suites[k].name);
				json_tri(&j, "accepted", v->suites[k].accepted);
				czpg_json_kv_bool(
				    &j, "weak",
				    czpg_probe_suite_is_weak(v->suites[k].name, NULL, 0));
				czpg_json_object_end(&j);
			}
			czpg_json_array_end(&j);
		}
		json_tri(&j, "server_order", v->server_order);
		json_str_or_null(&j, "order_detail", v->order_detail);
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);

	czpg_json_key(&j, "groups");
	if (res->groups_over == NULL) {
		czpg_json_null(&j);
	} else {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "over", res->groups_over);
		czpg_json_key(&j, "tried");
		czpg_json_array_begin(&j);
		for (i = 0; i < res->ngroups; i++) {
			czpg_json_object_begin(&j);
			czpg_json_kv_string(&j, "name", res->groups[i].name);
			json_tri(&j, "accepted", res->groups[i].accepted);
			czpg_json_object_end(&j);
		}
		czpg_json_array_end(&j);
		czpg_json_object_end(&j);
	}
	czpg_json_kv_string(&j, "session_resumption", res->resumption);

	czpg_json_key(&j, "certificate");
	if (res->nchain == 0) {
		czpg_json_null(&j);
	} else {
		czpg_json_object_begin(&j);
		czpg_json_kv_uint(&j, "chain_sent", res->chain_sent);
		czpg_json_key(&j, "chain");
		czpg_json_array_begin(&j);
		for (i = 0; i < res->nchain; i++) {
			const struct czpg_cert_info *c = &res->chain[i];

			czpg_json_object_begin(&j);
			czpg_json_kv_string(&j, "subject", c->subject);
			czpg_json_kv_string(&j, "issuer", c->issuer);
			czpg_json_kv_string(&j, "sans", c->sans);
			czpg_json_kv_string(&j, "key", c->key);
			czpg_json_kv_string(&j, "signature", c->sig_alg);
			czpg_json_kv_string(&j, "not_before", c->not_before);
			czpg_json_kv_string(&j, "not_after", c->not_after);
			czpg_json_kv_int(&j, "days_left", c->days_left);
			czpg_json_kv_string(&j, "serial", c->serial);
			czpg_json_object_end(&j);
		}
		czpg_json_array_end(&j);
		json_tri(&j, "host_match", res->host_match);
		czpg_json_kv_bool(&j, "ca_given", res->ca_given);
		json_tri(&j, "ca_verified", res->ca_verified);
		json_str_or_null(&j, "ca_detail", res->ca_detail);
		czpg_json_object_end(&j);
	}

	czpg_json_key(&j, "plaintext");
	czpg_json_object_begin(&j);
	json_tri(&j, "accepted", res->plaintext_accepted);
	json_str_or_null(&j, "sqlstate", res->plaintext_sqlstate);
	json_str_or_null(&j, "detail", res->plaintext_detail);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "auth_over_tls");
	czpg_json_object_begin(&j);
	if (res->tls_auth >= 0)
		czpg_json_kv_string(&j, "request", auth_name(res->tls_auth));
	else
		czpg_json_kv_string(&j, "request", NULL);
	czpg_json_key(&j, "mechanisms");
	czpg_json_array_begin(&j);
	{
		char buf[sizeof(res->mechanisms)], *save = NULL, *tok;

		copy_str(buf, sizeof(buf), res->mechanisms);
		for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
			czpg_json_string(&j, tok);
	}
	czpg_json_array_end(&j);
	json_tri(&j, "channel_binding", res->channel_binding);
	json_str_or_null(&j, "detail", res->auth_detail);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "direct_tls");
	czpg_json_object_begin(&j);
	json_tri(&j, "accepted", res->direct_tls);
	json_str_or_null(&j, "alpn", res->direct_alpn);
	json_str_or_null(&j, "detail", res->direct_detail);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "gssenc");
	czpg_json_object_begin(&j);
	json_char(&j, "answer",
		  res->gssenc_answer >= 0x20 && res->gssenc_answer < 0x7f ? res->gssenc_answer
		  : res->gssenc_answer != 0                               ? '?'
									  : 0);
	json_str_or_null(&j, "detail", res->gssenc_detail);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "findings");
	czpg_json_array_begin(&j);
	for (i = 0; i < res->nfindings; i++) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "severity",
				    czpg_probe_severity_name(res->findings[i].severity));
		czpg_json_kv_string(&j, "id", res->findings[i].id);
		czpg_json_kv_string(&j, "text", res->findings[i].text);
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);
	czpg_json_kv_string(&j, "worst", czpg_probe_severity_name(res->worst));
	czpg_json_kv_int(&j, "exit_code", czpg_report_exit_code(czpg_probe_outcome(res)));
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}
