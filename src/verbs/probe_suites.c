/*
 * probe_suites.c - what a probe offers a server and the TLS configurations
 * that offer it (see probe_suites.h).
 *
 * References: RFC 8446 section 4.1.1 and RFC 5246 section 7.4.1 (a server
 * answers the ClientHello with one version, one suite and, RFC 8446 section
 * 4.2.7 / RFC 8422 section 5.1, one group from what the client offered: so
 * offering one thing alone asks whether it is accepted); OpenSSL's names for
 * suites (openssl-ciphers(1)) and groups (SSL_CTX_set1_groups_list(3)).
 */
#include "probe_suites.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

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

/* One kept suite list: the configuration offering it over version vi. */
struct czpg_probe_suites_list {
	char *list; /* NULL: a free slot */
	int vi;
	struct czpg_tls_config *cfg;
};

const char *czpg_probe_suites_version_name(int vi)
{
	return version_table[vi].name;
}

int czpg_probe_suites_version(int vi)
{
	return version_table[vi].version;
}

size_t czpg_probe_suites_count(int vi)
{
	return vi == 0 ? N_TLS13_SUITES : N_TLS12_SUITES;
}

const char *czpg_probe_suites_name(int vi, size_t idx)
{
	if (vi == 0)
		return tls13_suites[idx];
	return tls12_suites[idx].name;
}

bool czpg_probe_suites_worth_trying(int vi, size_t idx, const char *leaf_key)
{
	const char *key = leaf_key != NULL ? leaf_key : "";
	bool ecdsa_suite;

	if (vi == 0)
		return true; /* TLS 1.3 suites do not fix the certificate type */
	if (vi >= 2 && !tls12_suites[idx].legacy)
		return false;
	/* ECDSA suites need an EC (or EdDSA) key, the others an RSA key. */
	ecdsa_suite = strstr(tls12_suites[idx].name, "-ECDSA-") != NULL;
	if (strncmp(key, "EC ", 3) == 0 || strcmp(key, "EC") == 0 || strncmp(key, "Ed", 2) == 0)
		return ecdsa_suite;
	if (strncmp(key, "RSA", 3) == 0)
		return !ecdsa_suite;
	return true; /* unknown key type: try everything */
}

size_t czpg_probe_suites_ngroups(void)
{
	return N_GROUPS;
}

const char *czpg_probe_suites_group_name(size_t gi)
{
	return group_table[gi].name;
}

bool czpg_probe_suites_group_ec(size_t gi)
{
	return group_table[gi].ec;
}

bool czpg_probe_suites_group_is(size_t gi, const char *negotiated)
{
	return negotiated != NULL && (strcasecmp(negotiated, group_table[gi].openssl) == 0 ||
				      strcasecmp(negotiated, group_table[gi].name) == 0);
}

/* ---- TLS configurations (shared by every target) --------------------------- */

static void copy_error(struct czpg_probe_suites *s, const struct czpg_tls_config *c)
{
	snprintf(s->err, sizeof(s->err), "%s", czpg_tls_config_error(c));
}

/* The probe never verifies (it reports what it sees), except s->verify. */
static struct czpg_tls_config *cfg_base(struct czpg_probe_suites *s, int minv, int maxv,
					bool legacy)
{
	struct czpg_tls_config *c = czpg_tls_config_new(s->err, sizeof(s->err));

	if (c == NULL)
		goto out;
	czpg_tls_config_insecure_noverify(c);
	if ((legacy && czpg_tls_config_insecure_seclevel0(c) < 0) ||
	    czpg_tls_config_set_min_version(c, minv) < 0 ||
	    czpg_tls_config_set_max_version(c, maxv) < 0) {
		copy_error(s, c);
		czpg_tls_config_free(c);
		c = NULL;
	}
out:
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

/* A TLS 1.3 suite list or a TLS 1.2-and-older cipher list, as vi needs. */
static int offer_suites(struct czpg_tls_config *c, int vi, const char *list)
{
	if (vi == 0)
		return czpg_tls_config_set_ciphersuites(c, list);
	return czpg_tls_config_set_cipher_list(c, list);
}

int czpg_probe_suites_init(struct czpg_probe_suites *s, const char *ca_file)
{
	int rc = -1;

	memset(s, 0, sizeof(*s));
	s->main = cfg_base(s, TLS1_2_VERSION, 0, false);
	if (s->main == NULL)
		goto out;
	s->direct = cfg_base(s, TLS1_2_VERSION, 0, false);
	if (s->direct == NULL)
		goto out;
	if (czpg_tls_config_set_alpn(s->direct, "postgresql") < 0) {
		copy_error(s, s->direct);
		goto out;
	}
	if (ca_file != NULL) {
		s->verify = czpg_tls_config_new(s->err, sizeof(s->err));
		if (s->verify == NULL)
			goto out;
		if (czpg_tls_config_set_ca_file(s->verify, ca_file) < 0 ||
		    czpg_tls_config_set_min_version(s->verify, TLS1_2_VERSION) < 0) {
			copy_error(s, s->verify);
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

void czpg_probe_suites_free(struct czpg_probe_suites *s)
{
	size_t i, j;

	if (s == NULL)
		return;
	czpg_tls_config_free(s->main);
	czpg_tls_config_free(s->verify);
	czpg_tls_config_free(s->direct);
	for (i = 0; i < CZPG_PROBE_NVERSIONS; i++) {
		czpg_tls_config_free(s->version[i]);
		for (j = 0; j < CZPG_PROBE_MAX_SUITES; j++)
			czpg_tls_config_free(s->suite[i][j]);
	}
	if (s->group != NULL) {
		for (i = 0; i < ((size_t)2 << N_GROUPS); i++)
			czpg_tls_config_free(s->group[i]);
		free(s->group);
	}
	if (s->lists != NULL) {
		for (i = 0; i < CZPG_PROBE_SUITES_MAX_LISTS; i++) {
			free(s->lists[i].list);
			czpg_tls_config_free(s->lists[i].cfg);
		}
		free(s->lists);
	}
	memset(s, 0, sizeof(*s));
}

struct czpg_tls_config *czpg_probe_suites_for_version(struct czpg_probe_suites *s, int vi)
{
	struct czpg_tls_config *c = s->version[vi];
	int v = version_table[vi].version;

	if (c != NULL)
		goto out;
	c = cfg_base(s, v, v, true);
	if (c != NULL && offer_all(c, v) < 0) {
		copy_error(s, c);
		czpg_tls_config_free(c);
		c = NULL;
	}
	s->version[vi] = c;
out:
	return c;
}

struct czpg_tls_config *czpg_probe_suites_for_suite(struct czpg_probe_suites *s, int vi, size_t idx)
{
	struct czpg_tls_config *c = s->suite[vi][idx];
	int v = version_table[vi].version;

	if (c != NULL || s->suite_unusable[vi][idx])
		goto out;
	c = cfg_base(s, v, v, true);
	if (c == NULL)
		goto out;
	if (offer_suites(c, vi, czpg_probe_suites_name(vi, idx)) < 0) {
		czpg_tls_config_free(c);
		c = NULL;
		s->suite_unusable[vi][idx] = true;
		goto out;
	}
	s->suite[vi][idx] = c;
out:
	return c;
}

struct czpg_tls_config *czpg_probe_suites_for_groups(struct czpg_probe_suites *s, int vi,
						     unsigned mask)
{
	struct czpg_tls_config **slot, *c = NULL;
	int v = version_table[vi].version;
	char list[200];
	size_t i;

	if (s->group == NULL) {
		s->group = calloc((size_t)2 << N_GROUPS, sizeof(*s->group));
		if (s->group == NULL)
			goto out;
	}
	slot = &s->group[((size_t)(vi == 0 ? 0 : 1) << N_GROUPS) | mask];
	c = *slot;
	if (c != NULL)
		goto out;
	list[0] = '\0';
	for (i = 0; i < N_GROUPS; i++)
		if (mask & (1u << i)) {
			size_t used = strlen(list);

			snprintf(list + used, sizeof(list) - used, "%s%s", used > 0 ? ":" : "",
				 group_table[i].name);
		}
	c = cfg_base(s, v, v, true);
	if (c == NULL)
		goto out;
	/* Over TLS 1.2 only the ECDHE suites use the group. */
	if (czpg_tls_config_set_groups(c, list) < 0 ||
	    (vi == 0 ? offer_all(c, v) : czpg_tls_config_set_cipher_list(c, "kECDHE:@SECLEVEL=0")) <
		0) {
		czpg_tls_config_free(c);
		c = NULL;
		goto out;
	}
	*slot = c;
out:
	return c;
}

/* FNV-1a over the list and the version: where the list's slot search starts. */
static size_t list_hash(int vi, const char *list)
{
	uint64_t h = 14695981039346656037ull ^ (uint64_t)vi;

	for (; *list != '\0'; list++)
		h = (h ^ (unsigned char)*list) * 1099511628211ull;
	return (size_t)h & (CZPG_PROBE_SUITES_MAX_LISTS - 1);
}

/* A new configuration offering exactly list over version vi, or NULL. */
static struct czpg_tls_config *make_list_config(struct czpg_probe_suites *s, int vi,
						const char *list)
{
	int v = version_table[vi].version;
	struct czpg_tls_config *c = cfg_base(s, v, v, true);

	if (c != NULL && offer_suites(c, vi, list) < 0) {
		czpg_tls_config_free(c);
		c = NULL;
	}
	return c;
}

struct czpg_tls_config *czpg_probe_suites_for_list(struct czpg_probe_suites *s, int vi,
						   const char *list, bool *owned)
{
	struct czpg_probe_suites_list *e = NULL;
	struct czpg_tls_config *c = NULL;
	size_t k, i;

	*owned = false;
	if (s->lists == NULL)
		s->lists = calloc(CZPG_PROBE_SUITES_MAX_LISTS, sizeof(*s->lists));
	/* Kept lists fill at most three quarters of the table: probing stays short. */
	for (k = list_hash(vi, list), i = 0; s->lists != NULL && i < CZPG_PROBE_SUITES_MAX_LISTS;
	     i++, k = (k + 1) & (CZPG_PROBE_SUITES_MAX_LISTS - 1)) {
		e = &s->lists[k];
		if (e->list == NULL)
			break;
		if (e->vi == vi && strcmp(e->list, list) == 0)
			return e->cfg;
	}
	c = make_list_config(s, vi, list);
	if (c == NULL)
		goto out;
	if (e == NULL || e->list != NULL || s->nlists >= CZPG_PROBE_SUITES_MAX_LISTS / 4 * 3 ||
	    (e->list = strdup(list)) == NULL) {
		*owned = true;
		goto out;
	}
	e->vi = vi;
	e->cfg = c;
	s->nlists++;
out:
	return c;
}
