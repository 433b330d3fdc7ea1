/*
 * probe_suites.h - private to the probe (src/verbs/probe*.c): what a probe
 * offers a server, and the TLS configurations that offer it.
 *
 * Tables: the protocol versions (index vi: 0 = TLS 1.3, 1 = 1.2, 2 = 1.1,
 * 3 = 1.0), the cipher suites of each (TLS 1.3 suites for vi 0, the TLS 1.2
 * table for the others, of which the "legacy" ones also work over 1.0/1.1),
 * and the key-exchange groups.
 *
 * Configurations: one czpg_tls_config per thing offered (a version with all
 * its suites, one suite alone, a set of groups, a list of suites in one
 * order), made on first use and shared by every target of a run: a fleet of
 * thousands of boxes builds each at most once.  Lists depend on what each
 * server accepts and prefers, so they are kept up to a cap
 * (CZPG_PROBE_SUITES_MAX_LISTS); past it a list's configuration belongs to
 * the one connection that asked for it.
 */
#ifndef CZPG_PROBE_SUITES_H
#define CZPG_PROBE_SUITES_H

#include <stdbool.h>
#include <stddef.h>

#include "czpg/probe.h"
#include "czpg/tlsio.h"

/* ---- tables --------------------------------------------------------------- */

/* "TLSv1.3" ... "TLSv1" for vi 0..3 (static storage). */
const char *czpg_probe_suites_version_name(int vi);
/* TLS1_3_VERSION ... TLS1_VERSION for vi 0..3. */
int czpg_probe_suites_version(int vi);

/* Entries of version vi's suite table (some may not apply: see worth_trying). */
size_t czpg_probe_suites_count(int vi);
/* The OpenSSL name of entry idx of version vi's table (static storage). */
const char *czpg_probe_suites_name(int vi, size_t idx);
/*
 * Whether entry idx of version vi's table is worth a connection to a server
 * whose leaf key is leaf_key (czpg_cert_info.key, "" when unknown): TLS
 * 1.0/1.1 take only the legacy suites, and a TLS 1.2-and-older suite fixes
 * the certificate type, so a suite the certificate cannot serve could only
 * be refused.
 */
bool czpg_probe_suites_worth_trying(int vi, size_t idx, const char *leaf_key);

/* Entries of the group table (at most CZPG_PROBE_MAX_GROUPS, fewer than 16). */
size_t czpg_probe_suites_ngroups(void);
/* "X25519", "P-256", ... (static storage). */
const char *czpg_probe_suites_group_name(size_t gi);
/* True when the group also serves TLS 1.2 ECDHE (OpenSSL offers FFDHE in 1.3 only). */
bool czpg_probe_suites_group_ec(size_t gi);
/* True when negotiated (what SSL_group_to_name() reports) names group gi. */
bool czpg_probe_suites_group_is(size_t gi, const char *negotiated);

/* ---- configurations -------------------------------------------------------- */

struct czpg_probe_suites {
	/* Made by czpg_probe_suites_init. */
	struct czpg_tls_config *main;   /* TLS 1.2-1.3, default suites: a stock client */
	struct czpg_tls_config *direct; /* as main, with ALPN "postgresql" */
	struct czpg_tls_config *verify; /* verify-full against the CA file; NULL without one */
	/* Made on first use. */
	struct czpg_tls_config *version[CZPG_PROBE_NVERSIONS];
	struct czpg_tls_config *suite[CZPG_PROBE_NVERSIONS][CZPG_PROBE_MAX_SUITES];
	bool suite_unusable[CZPG_PROBE_NVERSIONS][CZPG_PROBE_MAX_SUITES];
	struct czpg_tls_config **group;       /* [vi == 0 ? 0 : 1][mask] */
	struct czpg_probe_suites_list *lists; /* open addressing, CZPG_PROBE_SUITES_MAX_LISTS */
	size_t nlists;
	char err[512];
};

/* Suite lists whose configuration is kept for the run (a power of two). */
#define CZPG_PROBE_SUITES_MAX_LISTS 4096u

/*
 * Zeroes s and makes main, direct and (with ca_file) verify.  0, or -1 with
 * the reason in s->err; call czpg_probe_suites_free either way.
 */
int czpg_probe_suites_init(struct czpg_probe_suites *s, const char *ca_file);
/* Frees every configuration in s (not s).  NULL-safe. */
void czpg_probe_suites_free(struct czpg_probe_suites *s);

/* Version vi alone, every suite it has offered; NULL when this OpenSSL cannot (s->err). */
struct czpg_tls_config *czpg_probe_suites_for_version(struct czpg_probe_suites *s, int vi);
/* Version vi with table entry idx alone; NULL when this OpenSSL cannot offer it. */
struct czpg_tls_config *czpg_probe_suites_for_suite(struct czpg_probe_suites *s, int vi,
						    size_t idx);
/* Version vi offering the groups in mask (bits of the group table), in table order. */
struct czpg_tls_config *czpg_probe_suites_for_groups(struct czpg_probe_suites *s, int vi,
						     unsigned mask);
/*
 * Version vi offering exactly the suites of list (OpenSSL names separated by
 * ':', in that order: the order the client prefers).  *owned tells who frees
 * it: false, the run (s); true, the caller (czpg_tls_config_free), because
 * the run keeps no more lists.  NULL when this OpenSSL cannot offer them.
 */
struct czpg_tls_config *czpg_probe_suites_for_list(struct czpg_probe_suites *s, int vi,
						   const char *list, bool *owned);

#endif
