/*
 * test_status.c - `czctl postgres tls status`: certificate sets made here
 * (healthy, expiring, expired, not yet valid, foreign CA, wrong key), key
 * file modes and owners, the CA key's privacy, bundles, missing files and
 * directories, the pg_hba block in each mode, JSON that parses with the
 * promised fields, and Prometheus output line by line.  The CLI cases run
 * the real czctl binary ($CZCTL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "czpg/result.h"
#include "czpg/fsutil.h"
#include "czpg/hba.h"
#include "czpg/status.h"
#include "testcert.h"

#define DAY 86400L
#define DNS "audit-pg.internal"
#define IP "10.20.1.1"
#define DB_UID 999
#define DB_GID 999

#define DIRCAP 512

struct fx {
	char dir[DIRCAP];
	struct czpg_testcert ca, leaf;
};

/* ------------------------------------------------------------ helpers */

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < cap);
}

/* A CA and a leaf signed by it, valid until now + leaf_secs, into dir. */
static void make_set(struct fx *f, long leaf_before, long leaf_secs)
{
	struct czpg_testcert_opts ca_o = {.cn = "czpg internal CA " DNS, .not_after = 3650 * DAY};
	struct czpg_testcert_opts leaf_o = {.cn = DNS,
					    .sans = "DNS:" DNS ",IP:" IP,
					    .not_before = leaf_before,
					    .not_after = leaf_secs};
	char p[512];

	assert_int_equal(czpg_testcert_make_ca(&f->ca, &ca_o), 0);
	assert_int_equal(czpg_testcert_make_leaf(&f->leaf, &f->ca, &leaf_o), 0);
	assert_int_equal(czpg_testcert_write(&f->ca, f->dir, "ca"), 0);
	assert_int_equal(czpg_testcert_write(&f->leaf, f->dir, "server"), 0);
	path_in(p, sizeof(p), f->dir, CZPG_CERTDIR_CA_BUNDLE);
	assert_int_equal(czpg_testcert_write_bundle(p, &f->ca.cert, 1), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || czpg_testcert_tmpdir(f->dir, sizeof(f->dir)) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	czpg_testcert_free(&f->ca);
	czpg_testcert_free(&f->leaf);
	czpg_testcert_rmdir(f->dir);
	free(f);
	return 0;
}

static struct czpg_status_opts opts_for(const char *dir)
{
	struct czpg_status_opts o = {
	    .cert_dir = dir,
	    .warn_days = CZPG_STATUS_DEFAULT_WARN_DAYS,
	    .db_uid = CZPG_STATUS_ID_UNSET,
	    .db_gid = CZPG_STATUS_ID_UNSET,
	};
	return o;
}

static struct czpg_status_report *collect(const struct czpg_status_opts *o)
{
	struct czpg_status_report *r = NULL;
	char err[256] = "";

	assert_int_equal(czpg_status_collect(o, &r, err, sizeof(err)), 0);
	assert_non_null(r);
	return r;
}

static void assert_result(const struct czpg_status_report *r, enum czpg_status_check_id id,
			  enum czpg_status_result want)
{
	if (r->checks[id].result != want)
		fail_msg("%s: got %s (%s), want %s", czpg_status_check_name(id),
			 czpg_status_result_name(r->checks[id].result), r->checks[id].detail,
			 czpg_status_result_name(want));
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

static void chmod_in(const char *dir, const char *name, mode_t mode)
{
	char p[512];

	path_in(p, sizeof(p), dir, name);
	assert_int_equal(chmod(p, mode), 0);
}

static void chown_in(const char *dir, const char *name, uid_t uid, gid_t gid)
{
	char p[512];

	path_in(p, sizeof(p), dir, name);
	assert_int_equal(chown(p, uid, gid), 0);
}

static void unlink_in(const char *dir, const char *name)
{
	char p[512];

	path_in(p, sizeof(p), dir, name);
	assert_int_equal(unlink(p), 0);
}

static void write_in(const char *dir, const char *name, const char *text)
{
	char p[512];

	path_in(p, sizeof(p), dir, name);
	assert_int_equal(czpg_fs_write_atomic(p, text, strlen(text), 0644, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, NULL, 0),
			 0);
}

/* Unix time of an ASN1_TIME, computed apart from the code under test. */
static time_t asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return timegm(&tm);
}

static long floor_days(time_t not_after, time_t now)
{
	long long left = (long long)not_after - (long long)now;

	return (long)(left >= 0 ? left / DAY : -((-left + DAY - 1) / DAY));
}

/* ------------------------------------------------------------ expiry */

static void test_healthy_80_days(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;
	size_t i;

	make_set(f, 0, 80 * DAY + 3600);
	r = collect(&o);
	assert_string_equal(r->dir_error, "");
	for (i = 0; i < CZPG_STATUS_NCHECKS; i++)
		assert_result(r, (enum czpg_status_check_id)i,
			      i == CZPG_STATUS_HBA_BLOCK ? CZPG_STATUS_SKIP : CZPG_STATUS_PASS);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_OK);
	/* the reported facts */
	assert_int_equal(r->leaf.state, CZPG_STATUS_FILE_OK);
	assert_string_equal(r->leaf.info.subject_cn, DNS);
	assert_string_equal(r->leaf.subject,
			    "CN=" DNS ",O=czpg tests"); /* RFC 2253: last RDN first */
	assert_int_equal(r->leaf.info.n_dns, 1);
	assert_string_equal(r->leaf.info.dns_sans[0], DNS);
	assert_int_equal(r->leaf.info.n_ip, 1);
	assert_string_equal(r->leaf.info.ip_sans[0], IP);
	assert_int_equal(r->leaf.info.days_left, 80);
	assert_string_equal(r->leaf.info.key_type, "EC");
	assert_string_equal(r->leaf.info.curve, "prime256v1");
	assert_int_equal(r->leaf.info.not_after_t, asn1_unix(X509_get0_notAfter(f->leaf.cert)));
	assert_true(r->ca.info.is_ca);
	assert_int_equal(r->ca.info.days_left,
			 floor_days(asn1_unix(X509_get0_notAfter(f->ca.cert)), r->now));
	assert_int_equal(r->n_bundle, 1);
	assert_int_equal(r->bundle_current, 0);
	/* default database user: server.key's owner */
	assert_true(r->db_uid_from_key);
	assert_int_equal(r->db_uid, getuid());
	czpg_status_report_free(r);
}

static void test_expiring_10_days_warns(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, 0, 10 * DAY + 3600);
	r = collect(&o);
	assert_result(r, CZPG_STATUS_LEAF_EXPIRY, CZPG_STATUS_WARN);
	assert_contains(r->checks[CZPG_STATUS_LEAF_EXPIRY].detail, "in 10 days");
	assert_contains(r->checks[CZPG_STATUS_LEAF_EXPIRY].detail, "warning at 30 days");
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	czpg_status_report_free(r);

	/* with a threshold below the remaining time it passes */
	o.warn_days = 7;
	r = collect(&o);
	assert_result(r, CZPG_STATUS_LEAF_EXPIRY, CZPG_STATUS_PASS);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_OK);
	czpg_status_report_free(r);

	/* the boundary is exact: 10 days + 1 hour left is within 11 days */
	o.warn_days = 11;
	r = collect(&o);
	assert_result(r, CZPG_STATUS_LEAF_EXPIRY, CZPG_STATUS_WARN);
	czpg_status_report_free(r);
}

static void test_expired_fails(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, -91 * DAY, -DAY - 3600);
	o.warn_days = 0; /* even with warnings off, expired fails */
	r = collect(&o);
	assert_result(r, CZPG_STATUS_LEAF_EXPIRY, CZPG_STATUS_FAIL);
	assert_contains(r->checks[CZPG_STATUS_LEAF_EXPIRY].detail, "expired on");
	assert_int_equal(r->leaf.info.days_left, -2);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	/* the rest still holds */
	assert_result(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_PASS);
	czpg_status_report_free(r);
}

static void test_not_yet_valid_fails(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, 2 * DAY, 90 * DAY);
	r = collect(&o);
	assert_result(r, CZPG_STATUS_LEAF_EXPIRY, CZPG_STATUS_FAIL);
	assert_contains(r->checks[CZPG_STATUS_LEAF_EXPIRY].detail, "not valid before");
	czpg_status_report_free(r);
}

static void test_ca_expiring_warns(void **state)
{
	struct fx *f = *state;
	struct czpg_testcert_opts ca_o = {.not_after = 20 * DAY};
	struct czpg_testcert_opts leaf_o = {.cn = DNS, .sans = "DNS:" DNS, .not_after = 15 * DAY};
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	assert_int_equal(czpg_testcert_make_ca(&f->ca, &ca_o), 0);
	assert_int_equal(czpg_testcert_make_leaf(&f->leaf, &f->ca, &leaf_o), 0);
	assert_int_equal(czpg_testcert_write(&f->ca, f->dir, "ca"), 0);
	assert_int_equal(czpg_testcert_write(&f->leaf, f->dir, "server"), 0);
	o.warn_days = 10;
	r = collect(&o);
	assert_result(r, CZPG_STATUS_CA_EXPIRY, CZPG_STATUS_PASS);
	czpg_status_report_free(r);
	o.warn_days = 25;
	r = collect(&o);
	assert_result(r, CZPG_STATUS_CA_EXPIRY, CZPG_STATUS_WARN);
	assert_result(r, CZPG_STATUS_LEAF_EXPIRY, CZPG_STATUS_WARN);
	czpg_status_report_free(r);
}

/* ------------------------------------------------------------ signatures and keys */

static void test_leaf_from_another_ca(void **state)
{
	struct fx *f = *state;
	struct czpg_testcert other = {0}, leaf2 = {0};
	struct czpg_testcert_opts o2 = {.cn = "someone else's CA"};
	struct czpg_testcert_opts lo = {.cn = DNS, .sans = "DNS:" DNS, .not_after = 80 * DAY};
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, 0, 80 * DAY);
	assert_int_equal(czpg_testcert_make_ca(&other, &o2), 0);
	assert_int_equal(czpg_testcert_make_leaf(&leaf2, &other, &lo), 0);
	assert_int_equal(czpg_testcert_write(&leaf2, f->dir, "server"), 0);

	r = collect(&o);
	assert_result(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_FAIL);
	assert_contains(r->checks[CZPG_STATUS_LEAF_SIGNED].detail, "is not signed by ca.crt");
	/* server.key is leaf2's own key: it matches its certificate */
	assert_result(r, CZPG_STATUS_LEAF_KEY_MATCH, CZPG_STATUS_PASS);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	czpg_status_report_free(r);

	/* when the signer is the previous CA, the report says so */
	assert_int_equal(czpg_testcert_write(&other, f->dir, "ca-previous"), 0);
	unlink_in(f->dir, "ca-previous.key");
	r = collect(&o);
	assert_result(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_FAIL);
	assert_contains(r->checks[CZPG_STATUS_LEAF_SIGNED].detail, "signed by the previous CA");
	assert_int_equal(r->previous.state, CZPG_STATUS_FILE_OK);
	assert_string_equal(r->previous.info.subject_cn, "someone else's CA");
	czpg_status_report_free(r);
	czpg_testcert_free(&other);
	czpg_testcert_free(&leaf2);
}

static void test_key_does_not_match(void **state)
{
	struct fx *f = *state;
	struct czpg_testcert stray = {0};
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, 0, 80 * DAY);
	assert_int_equal(czpg_testcert_make_leaf(&stray, &f->ca, NULL), 0);
	assert_int_equal(czpg_testcert_write(&stray, f->dir, "server"), 0);
	/* server.crt is stray's now; put the original certificate back */
	assert_int_equal(czpg_testcert_write(&f->leaf, f->dir, "tmp"), 0);
	{
		char a[512], b[512];

		path_in(a, sizeof(a), f->dir, "tmp.crt");
		path_in(b, sizeof(b), f->dir, "server.crt");
		assert_int_equal(rename(a, b), 0);
		unlink_in(f->dir, "tmp.key");
	}
	r = collect(&o);
	assert_result(r, CZPG_STATUS_LEAF_KEY_MATCH, CZPG_STATUS_FAIL);
	assert_result(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_PASS);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	czpg_status_report_free(r);

	/* ca.key from another CA */
	czpg_testcert_free(&stray);
	assert_int_equal(czpg_testcert_make_ca(&stray, NULL), 0);
	assert_int_equal(czpg_testcert_write(&stray, f->dir, "other"), 0);
	{
		char a[512], b[512];

		path_in(a, sizeof(a), f->dir, "other.key");
		path_in(b, sizeof(b), f->dir, "ca.key");
		assert_int_equal(rename(a, b), 0);
	}
	r = collect(&o);
	assert_result(r, CZPG_STATUS_CA_KEY_MATCH, CZPG_STATUS_FAIL);
	czpg_status_report_free(r);
	czpg_testcert_free(&stray);
}

static void test_server_key_mode(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, 0, 80 * DAY);

	chmod_in(f->dir, "server.key", 0600);
	r = collect(&o);
	assert_result(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_PASS);
	czpg_status_report_free(r);

	chmod_in(f->dir, "server.key", 0644);
	r = collect(&o);
	assert_result(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_FAIL);
	assert_contains(r->checks[CZPG_STATUS_SERVER_KEY_MODE].detail, "0644");
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	czpg_status_report_free(r);

	if (geteuid() != 0) {
		/* the ownership cases need chown */
		return;
	}
	/* owned by the database user, 0600: good for that user, not for another */
	chmod_in(f->dir, "server.key", 0600);
	chown_in(f->dir, "server.key", DB_UID, DB_GID);
	o.db_uid = DB_UID;
	r = collect(&o);
	assert_result(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_PASS);
	assert_false(r->db_uid_from_key);
	czpg_status_report_free(r);
	o.db_uid = DB_UID + 1;
	r = collect(&o);
	assert_result(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_FAIL);
	czpg_status_report_free(r);

	/* default user = the owner: 999 */
	o.db_uid = CZPG_STATUS_ID_UNSET;
	r = collect(&o);
	assert_result(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_PASS);
	assert_int_equal(r->db_uid, DB_UID);
	czpg_status_report_free(r);

	/* root-owned 0640 with the database user's group: PostgreSQL accepts it */
	chown_in(f->dir, "server.key", 0, DB_GID);
	chmod_in(f->dir, "server.key", 0640);
	o.db_uid = DB_UID;
	o.db_gid = DB_GID;
	r = collect(&o);
	assert_result(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_PASS);
	czpg_status_report_free(r);
	o.db_gid = DB_GID + 1; /* a group the database user is not in */
	r = collect(&o);
	assert_result(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_FAIL);
	czpg_status_report_free(r);
}

static void test_ca_key_private(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, 0, 80 * DAY);
	o.db_uid = DB_UID;
	o.db_gid = DB_GID;

	r = collect(&o); /* root:root 0600 */
	assert_result(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_PASS);
	czpg_status_report_free(r);

	chmod_in(f->dir, "ca.key", 0644);
	r = collect(&o);
	assert_result(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_FAIL);
	assert_contains(r->checks[CZPG_STATUS_CA_KEY_PRIVATE].detail, "every user can read it");
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	czpg_status_report_free(r);

	if (geteuid() == 0) {
		chmod_in(f->dir, "ca.key", 0600);
		chown_in(f->dir, "ca.key", DB_UID, 0);
		r = collect(&o);
		assert_result(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_FAIL);
		assert_contains(r->checks[CZPG_STATUS_CA_KEY_PRIVATE].detail,
				"owned by the database user");
		czpg_status_report_free(r);

		chown_in(f->dir, "ca.key", 0, DB_GID);
		chmod_in(f->dir, "ca.key", 0640);
		r = collect(&o);
		assert_result(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_FAIL);
		czpg_status_report_free(r);
		o.db_gid = DB_GID + 1;
		r = collect(&o);
		assert_result(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_PASS);
		czpg_status_report_free(r);
	}

	/* a CA key kept off the box is fine */
	unlink_in(f->dir, "ca.key");
	r = collect(&o);
	assert_result(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_SKIP);
	assert_result(r, CZPG_STATUS_CA_KEY_MATCH, CZPG_STATUS_SKIP);
	czpg_status_report_free(r);
}

/* ------------------------------------------------------------ bundle and missing files */

static void test_bundle(void **state)
{
	struct fx *f = *state;
	struct czpg_testcert old = {0};
	struct czpg_testcert_opts oo = {.cn = "old CA", .not_after = 40 * DAY};
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;
	X509 *both[2];
	char p[512];

	make_set(f, 0, 80 * DAY);
	assert_int_equal(czpg_testcert_make_ca(&old, &oo), 0);
	path_in(p, sizeof(p), f->dir, CZPG_CERTDIR_CA_BUNDLE);

	/* previous + current, with ca-previous.crt */
	both[0] = old.cert;
	both[1] = f->ca.cert;
	assert_int_equal(czpg_testcert_write_bundle(p, both, 2), 0);
	assert_int_equal(czpg_testcert_write(&old, f->dir, "ca-previous"), 0);
	unlink_in(f->dir, "ca-previous.key");
	r = collect(&o);
	assert_int_equal(r->n_bundle, 2);
	assert_string_equal(r->bundle[0].info.subject_cn, "old CA");
	assert_int_equal(r->bundle[0].info.days_left,
			 floor_days(asn1_unix(X509_get0_notAfter(old.cert)), r->now));
	assert_int_equal(r->bundle_current, 1);
	assert_int_equal(r->bundle_previous, 0);
	assert_result(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_PASS);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_OK);
	czpg_status_report_free(r);

	/* a bundle without the current CA */
	assert_int_equal(czpg_testcert_write_bundle(p, both, 1), 0);
	r = collect(&o);
	assert_result(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_FAIL);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	czpg_status_report_free(r);

	/* an unreadable bundle cannot be checked */
	write_in(f->dir, CZPG_CERTDIR_CA_BUNDLE, "not a certificate\n");
	r = collect(&o);
	assert_int_equal(r->bundle_state, CZPG_STATUS_FILE_UNREADABLE);
	assert_result(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_ERROR);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_ERROR);
	czpg_status_report_free(r);
	czpg_testcert_free(&old);
}

static void test_optional_files_absent(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, 0, 80 * DAY);
	unlink_in(f->dir, CZPG_CERTDIR_CA_BUNDLE);
	unlink_in(f->dir, CZPG_CERTDIR_CA_KEY);
	r = collect(&o);
	assert_int_equal(r->bundle_state, CZPG_STATUS_FILE_ABSENT);
	assert_int_equal(r->previous.state, CZPG_STATUS_FILE_ABSENT);
	assert_result(r, CZPG_STATUS_BUNDLE_HAS_CA, CZPG_STATUS_SKIP);
	assert_result(r, CZPG_STATUS_CA_KEY_PRIVATE, CZPG_STATUS_SKIP);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_OK);
	czpg_status_report_free(r);
}

static void test_required_files_absent(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;

	make_set(f, 0, 80 * DAY);
	unlink_in(f->dir, CZPG_CERTDIR_LEAF_CERT);
	r = collect(&o);
	assert_int_equal(r->leaf.state, CZPG_STATUS_FILE_ABSENT);
	assert_result(r, CZPG_STATUS_LEAF_EXPIRY, CZPG_STATUS_ERROR);
	assert_contains(r->checks[CZPG_STATUS_LEAF_EXPIRY].detail, "server.crt is missing");
	assert_result(r, CZPG_STATUS_LEAF_SIGNED, CZPG_STATUS_ERROR);
	assert_result(r, CZPG_STATUS_LEAF_KEY_MATCH, CZPG_STATUS_ERROR);
	assert_result(r, CZPG_STATUS_CA_EXPIRY, CZPG_STATUS_PASS);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_ERROR);
	czpg_status_report_free(r);

	/* a definite failure wins over what could not be read */
	chmod_in(f->dir, "server.key", 0644);
	r = collect(&o);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	czpg_status_report_free(r);

	unlink_in(f->dir, CZPG_CERTDIR_LEAF_KEY);
	chmod_in(f->dir, CZPG_CERTDIR_CA_KEY, 0600);
	r = collect(&o);
	assert_result(r, CZPG_STATUS_SERVER_KEY_MODE, CZPG_STATUS_ERROR);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_ERROR);
	czpg_status_report_free(r);
}

static void test_missing_dir(void **state)
{
	struct fx *f = *state;
	char p[512];
	struct czpg_status_opts o;
	struct czpg_status_report *r;
	struct czpg_wbuf w;

	path_in(p, sizeof(p), f->dir, "nope");
	o = opts_for(p);
	r = collect(&o);
	assert_contains(r->dir_error, "does not exist");
	assert_contains(r->dir_error, p);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_ERROR);
	/* metrics still say so, so a collector never keeps stale good numbers */
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_status_prometheus(r, &w), 0);
	assert_int_equal(czpg_wbuf_u8(&w, 0), 0);
	assert_contains((const char *)w.data, "czpg_tls_status_exit_code{cert_dir=\"");
	assert_contains((const char *)w.data, "\"} 3\n");
	assert_null(strstr((const char *)w.data, "czpg_tls_cert_"));
	czpg_wbuf_free(&w);
	czpg_status_report_free(r);

	/* a file where the directory should be */
	write_in(f->dir, "plain", "x");
	path_in(p, sizeof(p), f->dir, "plain");
	o = opts_for(p);
	r = collect(&o);
	assert_contains(r->dir_error, "is not a directory");
	czpg_status_report_free(r);
}

static void test_bad_options(void **state)
{
	struct czpg_status_opts o = opts_for("/tmp");
	struct czpg_status_report *r = NULL;
	char err[256];

	(void)state;
	o.warn_days = -1;
	assert_int_equal(czpg_status_collect(&o, &r, err, sizeof(err)), -1);
	assert_null(r);
	o = opts_for("/tmp");
	o.expect_hba_mode = "hardened";
	assert_int_equal(czpg_status_collect(&o, &r, err, sizeof(err)), -1);
	assert_contains(err, "hardened");
	o = opts_for(NULL);
	assert_int_equal(czpg_status_collect(&o, &r, err, sizeof(err)), -1);
}

/* ------------------------------------------------------------ pg_hba */

#define HBA_BASE                                                                                   \
	"local   all  postgres                 peer\n"                                             \
	"host    all  all       10.20.1.2/32   scram-sha-256\n"

/* pg_hba.conf text with the block the hba module writes in mode m. */
static char *hba_text(enum czpg_hba_mode m)
{
	const char *roles[] = {"cz_audit_writer"};
	struct czpg_hba_params pa = {
	    .mode = m, .cidr = "10.20.1.2/32", .roles = roles, .n_roles = 1};
	struct czpg_hba_plan *plan = NULL;
	char err[256];
	char *out;

	assert_int_equal(czpg_hba_plan(HBA_BASE, strlen(HBA_BASE), &pa, &plan, err, sizeof(err)),
			 0);
	out = strdup(czpg_hba_plan_output(plan, NULL));
	assert_non_null(out);
	czpg_hba_plan_free(plan);
	return out;
}

static void test_hba_modes(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;
	char hba[512];
	char *t;

	make_set(f, 0, 80 * DAY);
	path_in(hba, sizeof(hba), f->dir, "pg_hba.conf");
	o.hba_path = hba;

	write_in(f->dir, "pg_hba.conf", HBA_BASE);
	r = collect(&o);
	assert_true(r->hba_checked && r->hba_known);
	assert_int_equal(r->hba_mode, CZPG_HBA_MODE_NONE);
	assert_result(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_PASS);
	czpg_status_report_free(r);

	t = hba_text(CZPG_HBA_MODE_TRANSITION);
	write_in(f->dir, "pg_hba.conf", t);
	free(t);
	r = collect(&o);
	assert_int_equal(r->hba_mode, CZPG_HBA_MODE_TRANSITION);
	assert_result(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_PASS);
	assert_contains(r->checks[CZPG_STATUS_HBA_BLOCK].detail, "transition mode");
	czpg_status_report_free(r);
	o.expect_hba_mode = "harden";
	r = collect(&o);
	assert_result(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_FAIL);
	assert_contains(r->checks[CZPG_STATUS_HBA_BLOCK].detail, "expected harden");
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_FAIL);
	czpg_status_report_free(r);

	t = hba_text(CZPG_HBA_MODE_HARDEN);
	write_in(f->dir, "pg_hba.conf", t);
	free(t);
	r = collect(&o);
	assert_int_equal(r->hba_mode, CZPG_HBA_MODE_HARDEN);
	assert_result(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_PASS);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_OK);
	czpg_status_report_free(r);
	o.expect_hba_mode = NULL;

	/* a block edited by hand */
	write_in(f->dir, "pg_hba.conf",
		 HBA_BASE CZPG_HBA_BEGIN "\nhost all all 0.0.0.0/0 trust\n" CZPG_HBA_END "\n");
	r = collect(&o);
	assert_int_equal(r->hba_mode, CZPG_HBA_MODE_UNKNOWN);
	assert_result(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_FAIL);
	czpg_status_report_free(r);

	/* broken markers */
	write_in(f->dir, "pg_hba.conf",
		 HBA_BASE CZPG_HBA_BEGIN "\nhostssl all all ::1/128 "
					 "scram-sha-256\n");
	r = collect(&o);
	assert_false(r->hba_known);
	assert_result(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_FAIL);
	czpg_status_report_free(r);

	/* no such file: could not read */
	unlink_in(f->dir, "pg_hba.conf");
	r = collect(&o);
	assert_result(r, CZPG_STATUS_HBA_BLOCK, CZPG_STATUS_ERROR);
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_ERROR);
	czpg_status_report_free(r);
}

/* ------------------------------------------------------------ a small JSON reader */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	bool b;
	double num;
	char *str;
	char **keys;
	struct jv **items;
	size_t n;
};

static void jfree(struct jv *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		if (v->keys != NULL)
			free(v->keys[i]);
		jfree(v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->str);
	free(v);
}

static void jws(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

/* RFC 8259 string; non-ASCII \u escapes become '?'.  NULL when malformed. */
static char *jstring(const char **p)
{
	size_t cap = 16, n = 0;
	char *s;

	if (**p != '"')
		return NULL;
	(*p)++;
	s = malloc(cap);
	while (s != NULL && **p != '"') {
		char c = **p;

		if (c == '\0' || (unsigned char)c < 0x20) {
			free(s);
			return NULL;
		}
		if (c == '\\') {
			(*p)++;
			switch (**p) {
			case '"':
			case '\\':
			case '/':
				c = **p;
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'u': {
				unsigned v = 0;
				int i;

				for (i = 1; i <= 4; i++) {
					if (!isxdigit((unsigned char)(*p)[i])) {
						free(s);
						return NULL;
					}
					v = v * 16 +
					    (unsigned)(isdigit((unsigned char)(*p)[i])
							   ? (*p)[i] - '0'
							   : (tolower((*p)[i]) - 'a' + 10));
				}
				*p += 4;
				c = v < 0x80 ? (char)v : '?';
				break;
			}
			default:
				free(s);
				return NULL;
			}
		}
		if (n + 2 > cap) {
			char *g = realloc(s, cap *= 2);

			if (g == NULL) {
				free(s);
				return NULL;
			}
			s = g;
		}
		s[n++] = c;
		(*p)++;
	}
	if (s == NULL)
		return NULL;
	s[n] = '\0';
	(*p)++;
	return s;
}

static struct jv *jvalue(const char **p, int depth);

static int jpush(struct jv *v, char *key, struct jv *item)
{
	struct jv **it = realloc(v->items, (v->n + 1) * sizeof(*it));
	char **k;

	if (it == NULL)
		return -1;
	v->items = it;
	if (v->t == J_OBJ) {
		k = realloc(v->keys, (v->n + 1) * sizeof(*k));
		if (k == NULL)
			return -1;
		v->keys = k;
		v->keys[v->n] = key;
	}
	v->items[v->n++] = item;
	return 0;
}

static struct jv *jcontainer(const char **p, int depth, bool obj)
{
	struct jv *v = calloc(1, sizeof(*v));
	char close = obj ? '}' : ']';

	if (v == NULL)
		return NULL;
	v->t = obj ? J_OBJ : J_ARR;
	(*p)++;
	jws(p);
	if (**p == close) {
		(*p)++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct jv *item;

		jws(p);
		if (obj) {
			key = jstring(p);
			jws(p);
			if (key == NULL || **p != ':') {
				free(key);
				goto bad;
			}
			(*p)++;
		}
		item = jvalue(p, depth + 1);
		if (item == NULL || jpush(v, key, item) < 0) {
			free(key);
			jfree(item);
			goto bad;
		}
		jws(p);
		if (**p == ',') {
			(*p)++;
			continue;
		}
		if (**p == close) {
			(*p)++;
			return v;
		}
		goto bad;
	}
bad:
	jfree(v);
	return NULL;
}

static struct jv *jvalue(const char **p, int depth)
{
	struct jv *v;
	const char *s;

	jws(p);
	if (depth > 64)
		return NULL;
	if (**p == '{' || **p == '[')
		return jcontainer(p, depth, **p == '{');
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return NULL;
	if (**p == '"') {
		v->t = J_STR;
		v->str = jstring(p);
		if (v->str == NULL)
			goto bad;
	} else if (strncmp(*p, "true", 4) == 0 || strncmp(*p, "false", 5) == 0) {
		v->t = J_BOOL;
		v->b = **p == 't';
		*p += v->b ? 4 : 5;
	} else if (strncmp(*p, "null", 4) == 0) {
		v->t = J_NULL;
		*p += 4;
	} else {
		/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
		s = *p;
		if (*s == '-')
			s++;
		if (*s == '0')
			s++;
		else if (*s >= '1' && *s <= '9')
			while (isdigit((unsigned char)*s))
				s++;
		else
			goto bad;
		if (*s == '.') {
			if (!isdigit((unsigned char)*++s))
				goto bad;
			while (isdigit((unsigned char)*s))
				s++;
		}
		if (*s == 'e' || *s == 'E') {
			s++;
			if (*s == '+' || *s == '-')
				s++;
			if (!isdigit((unsigned char)*s))
				goto bad;
			while (isdigit((unsigned char)*s))
				s++;
		}
		v->t = J_NUM;
		v->num = strtod(*p, NULL);
		*p = s;
	}
	return v;
bad:
	jfree(v);
	return NULL;
}

/* The whole text must be one value (then a newline). */
static struct jv *jparse(const char *text)
{
	const char *p = text;
	struct jv *v = jvalue(&p, 0);

	if (v == NULL)
		return NULL;
	jws(&p);
	if (*p != '\0') {
		jfree(v);
		return NULL;
	}
	return v;
}

static const struct jv *jget(const struct jv *o, const char *key)
{
	size_t i;

	if (o == NULL || o->t != J_OBJ)
		fail_msg("not an object looking up '%s'", key);
	for (i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	fail_msg("no key '%s'", key);
	return NULL;
}

static const char *jstr(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	assert_int_equal(v->t, J_STR);
	return v->str;
}

static double jnum(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	assert_int_equal(v->t, J_NUM);
	return v->num;
}

/* Runs print_json into memory and parses it. */
static struct jv *json_of(const struct czpg_status_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	struct jv *v;

	assert_non_null(m);
	czpg_status_print_json(m, r);
	fclose(m);
	assert_true(len > 0 && buf[len - 1] == '\n');
	v = jparse(buf);
	if (v == NULL)
		fail_msg("not JSON: %s", buf);
	free(buf);
	return v;
}

static void test_json(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;
	const struct jv *leaf, *checks, *sans, *bundle;
	struct jv *doc;
	char hba[512];
	size_t i;

	make_set(f, 0, 10 * DAY + 3600);
	write_in(f->dir, "pg_hba.conf", HBA_BASE);
	path_in(hba, sizeof(hba), f->dir, "pg_hba.conf");
	o.hba_path = hba;
	r = collect(&o);
	doc = json_of(r);
	assert_string_equal(jstr(doc, "cert_dir"), f->dir);
	assert_int_equal(jget(doc, "ok")->t, J_BOOL);
	assert_false(jget(doc, "ok")->b);
	assert_true(jnum(doc, "exit_code") == 1);
	assert_true(jnum(doc, "warn_days") == 30);
	assert_true(jnum(doc, "db_uid") == (double)getuid());

	leaf = jget(doc, "leaf");
	assert_string_equal(jstr(leaf, "file"), "server.crt");
	assert_true(jget(leaf, "present")->b);
	assert_string_equal(jstr(leaf, "subject_cn"), DNS);
	assert_true(jnum(leaf, "days_left") == 10);
	assert_true(jnum(leaf, "not_after_unix") ==
		    (double)asn1_unix(X509_get0_notAfter(f->leaf.cert)));
	assert_string_equal(jstr(leaf, "key_type"), "EC");
	assert_string_equal(jstr(leaf, "curve"), "prime256v1");
	assert_int_equal(strlen(jstr(leaf, "not_after")), strlen("2026-01-01T00:00:00Z"));
	sans = jget(leaf, "dns_sans");
	assert_int_equal(sans->t, J_ARR);
	assert_int_equal(sans->n, 1);
	assert_string_equal(sans->items[0]->str, DNS);
	sans = jget(leaf, "ip_sans");
	assert_string_equal(sans->items[0]->str, IP);
	assert_false(jget(leaf, "is_ca")->b);
	assert_true(jget(jget(doc, "ca"), "is_ca")->b);
	assert_false(jget(jget(doc, "ca_previous"), "present")->b);

	bundle = jget(doc, "bundle");
	assert_int_equal(jget(bundle, "certificates")->n, 1);
	assert_true(jnum(bundle, "current_index") == 0);
	assert_int_equal(jget(bundle, "previous_index")->t, J_NULL);

	assert_string_equal(jstr(jget(doc, "hba"), "mode"), "none");

	checks = jget(doc, "checks");
	assert_int_equal(checks->n, CZPG_STATUS_NCHECKS);
	for (i = 0; i < CZPG_STATUS_NCHECKS; i++) {
		const struct jv *c = jget(checks, czpg_status_check_name(i));

		assert_string_equal(jstr(c, "result"),
				    czpg_status_result_name(r->checks[i].result));
		assert_string_equal(jstr(c, "detail"), r->checks[i].detail);
	}
	assert_string_equal(jstr(jget(checks, "leaf_expiry"), "result"), "warn");
	jfree(doc);
	czpg_status_report_free(r);

	/* the missing-directory document is JSON too */
	path_in(hba, sizeof(hba), f->dir, "missing \"dir\"");
	o = opts_for(hba);
	r = collect(&o);
	doc = json_of(r);
	assert_true(jnum(doc, "exit_code") == 3);
	assert_string_equal(jstr(doc, "cert_dir"), hba);
	assert_contains(jstr(doc, "error"), "does not exist");
	jfree(doc);
	czpg_status_report_free(r);
}

/* ------------------------------------------------------------ Prometheus */

/* The text report of r (a fresh string). */
static char *text_of(const struct czpg_status_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	czpg_status_print_text(m, r);
	fclose(m);
	return buf;
}

/* The server version: PG_VERSION of --pgdata, or why it is not known. */
static void test_server_version(void **state)
{
	struct fx *f = *state;
	struct czpg_status_opts o = opts_for(f->dir);
	struct czpg_status_report *r;
	struct jv *doc;
	char data[512], want[700], *text;

	make_set(f, 0, 80 * DAY + 3600);
	r = collect(&o);
	assert_string_equal(r->server_version, "");
	assert_string_equal(r->server_version_detail, "not known: no --pgdata given");
	text = text_of(r);
	assert_contains(text, "\nserver   version not known: no --pgdata given\n");
	free(text);
	doc = json_of(r);
	assert_int_equal(jget(jget(doc, "server_version"), "version")->t, J_NULL);
	jfree(doc);
	czpg_status_report_free(r);

	path_in(data, sizeof(data), f->dir, "data");
	assert_int_equal(mkdir(data, 0700), 0);
	o.pgdata = data;
	r = collect(&o);
	assert_contains(r->server_version_detail, "PG_VERSION");
	assert_contains(r->server_version_detail, "does not exist");
	czpg_status_report_free(r);

	write_in(data, "PG_VERSION", "17\n");
	r = collect(&o);
	assert_string_equal(r->server_version, "17");
	snprintf(want, sizeof(want), "PG_VERSION in %s", data);
	assert_string_equal(r->server_version_detail, want);
	text = text_of(r);
	snprintf(want, sizeof(want), "\nserver   PostgreSQL 17 (PG_VERSION in %s)\n", data);
	assert_contains(text, want);
	free(text);
	doc = json_of(r);
	assert_string_equal(jstr(jget(doc, "server_version"), "version"), "17");
	jfree(doc);
	/* The version is a fact reported, not a check: the outcome does not change. */
	assert_int_equal(czpg_status_outcome(r), CZPG_RESULT_OK);
	czpg_status_report_free(r);

	write_in(data, "PG_VERSION", "9.6\n");
	r = collect(&o);
	assert_string_equal(r->server_version, "9.6");
	czpg_status_report_free(r);

	write_in(data, "PG_VERSION", "\x1b[2Jowned\n");
	r = collect(&o);
	assert_string_equal(r->server_version, "");
	assert_contains(r->server_version_detail, "does not hold a version number");
	czpg_status_report_free(r);
}

static void test_prom_label_escape(void **state)
{
	struct czpg_wbuf w;

	(void)state;
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_status_prom_label_value(&w, "a\\b\"c\nd/é"), 0);
	assert_int_equal(czpg_wbuf_u8(&w, 0), 0);
	assert_string_equal((const char *)w.data, "a\\\\b\\\"c\\nd/é");
	czpg_wbuf_free(&w);

	czpg_wbuf_init(&w, 4); /* overflow is reported */
	assert_int_equal(czpg_status_prom_label_value(&w, "abcdef"), -1);
	czpg_wbuf_free(&w);
}

/* ERE-quotes s (for the parts of an expected line that are literal). */
static void re_quote(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 3 < cap; s++) {
		if (strchr("\\^$.|?*+()[]{}", *s) != NULL)
			out[n++] = '\\';
		out[n++] = *s;
	}
	out[n] = '\0';
}

static void serial_hex(X509 *x, char *out, size_t cap)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = BN_bn2hex(bn);

	snprintf(out, cap, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
}

static void fingerprint(X509 *x, char *out, size_t cap)
{
	unsigned char md[32];
	unsigned len = 0, i;
	size_t n = 0;

	assert_int_equal(X509_digest(x, EVP_sha256(), md, &len), 1);
	for (i = 0; i < len && n + 4 <= cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s%02X", i ? ":" : "", md[i]);
}

/* Splits text at '\n' (text ends with one) and matches each line in order. */
static void match_lines(const char *text, char **patterns, size_t n)
{
	const char *p = text;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *nl = strchr(p, '\n');
		char line[2048];
		regex_t re;

		if (nl == NULL)
			fail_msg("output ends before line %zu (want /%s/)", i + 1, patterns[i]);
		assert_true((size_t)(nl - p) < sizeof(line));
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		assert_int_equal(regcomp(&re, patterns[i], REG_EXTENDED | REG_NOSUB), 0);
		if (regexec(&re, line, 0, NULL, 0) != 0)
			fail_msg("line %zu: '%s' does not match /%s/", i + 1, line, patterns[i]);
		regfree(&re);
		p = nl + 1;
	}
	if (*p != '\0')
		fail_msg("unexpected extra output: %s", p);
}

#define MAXPAT 64

struct pats {
	char *p[MAXPAT];
	size_t n;
};

static void pat(struct pats *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pat(struct pats *ps, const char *fmt, ...)
{
	va_list ap;
	char buf[2048];

	assert_true(ps->n < MAXPAT);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ps->p[ps->n] = strdup(buf);
	assert_non_null(ps->p[ps->n]);
	ps->n++;
}

static void family(struct pats *ps, const char *name)
{
	pat(ps, "^# HELP %s [^ ].*[^ ]$", name);
	pat(ps, "^# TYPE %s gauge$", name);
}

static void test_prometheus_exact(void **state)
{
	struct fx *f = *state;
	struct czpg_testcert old = {0};
	struct czpg_testcert_opts oo = {.cn = "old CA", .not_after = 40 * DAY};
	struct czpg_status_opts o;
	struct czpg_status_report *r;
	struct pats ps = {.n = 0};
	struct czpg_wbuf w;
	X509 *both[2];
	struct {
		const char *label;
		X509 *x;
	} certs[4];
	const char *modes[] = {"none", "transition", "harden", "unknown"};
	char d[1024], dplain[1024], line[1200], sub[DIRCAP], hba[600], hq[1200], serial[128],
	    fp[128], p[DIRCAP];
	time_t now = time(NULL);
	size_t i;
	char *t;

	/* a directory whose name needs escaping: quote and backslash */
	path_in(sub, sizeof(sub), f->dir, "we\"ird\\dir");
	assert_int_equal(mkdir(sub, 0755), 0);
	memcpy(p, f->dir, sizeof(p));
	memcpy(f->dir, sub, sizeof(f->dir));
	make_set(f, 0, 80 * DAY);
	assert_int_equal(czpg_testcert_make_ca(&old, &oo), 0);
	both[0] = old.cert;
	both[1] = f->ca.cert;
	path_in(hba, sizeof(hba), sub, CZPG_CERTDIR_CA_BUNDLE);
	assert_int_equal(czpg_testcert_write_bundle(hba, both, 2), 0);
	t = hba_text(CZPG_HBA_MODE_HARDEN);
	write_in(sub, "pg_hba.conf", t);
	free(t);
	path_in(hba, sizeof(hba), sub, "pg_hba.conf");

	o = opts_for(sub);
	o.hba_path = hba;
	o.now = now;
	o.db_uid = (long)getuid();
	o.db_gid = 4242;
	r = collect(&o);
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_status_prometheus(r, &w), 0);
	assert_int_equal(czpg_wbuf_u8(&w, 0), 0);

	/* cert_dir as it must appear escaped, then ERE-quoted */
	{
		struct czpg_wbuf e;

		czpg_wbuf_init(&e, 0);
		assert_int_equal(czpg_status_prom_label_value(&e, sub), 0);
		assert_int_equal(czpg_wbuf_u8(&e, 0), 0);
		assert_non_null(strstr((const char *)e.data, "we\\\"ird\\\\dir"));
		snprintf(dplain, sizeof(dplain), "%s", (const char *)e.data);
		re_quote(d, sizeof(d), dplain);
		czpg_wbuf_free(&e);
	}
	{
		char esc[1200];
		size_t k = 0;
		const char *s;

		for (s = hba; *s != '\0' && k + 3 < sizeof(esc); s++) {
			if (*s == '"' || *s == '\\')
				esc[k++] = '\\';
			esc[k++] = *s;
		}
		esc[k] = '\0';
		re_quote(hq, sizeof(hq), esc);
	}

	family(&ps, "czpg_tls_status_exit_code");
	pat(&ps, "^czpg_tls_status_exit_code\\{cert_dir=\"%s\"\\} 0$", d);
	family(&ps, "czpg_tls_status_last_run_timestamp_seconds");
	pat(&ps, "^czpg_tls_status_last_run_timestamp_seconds\\{cert_dir=\"%s\"\\} %lld$", d,
	    (long long)now);

	certs[0].label = "leaf";
	certs[0].x = f->leaf.cert;
	certs[1].label = "ca";
	certs[1].x = f->ca.cert;
	certs[2].label = "bundle_0";
	certs[2].x = old.cert;
	certs[3].label = "bundle_1";
	certs[3].x = f->ca.cert;
	family(&ps, "czpg_tls_cert_not_after_seconds");
	for (i = 0; i < 4; i++)
		pat(&ps, "^czpg_tls_cert_not_after_seconds\\{cert_dir=\"%s\",cert=\"%s\"\\} %lld$",
		    d, certs[i].label, (long long)asn1_unix(X509_get0_notAfter(certs[i].x)));
	family(&ps, "czpg_tls_cert_days_left");
	for (i = 0; i < 4; i++)
		pat(&ps, "^czpg_tls_cert_days_left\\{cert_dir=\"%s\",cert=\"%s\"\\} %ld$", d,
		    certs[i].label, floor_days(asn1_unix(X509_get0_notAfter(certs[i].x)), now));
	family(&ps, "czpg_tls_cert_info");
	for (i = 0; i < 4; i++) {
		serial_hex(certs[i].x, serial, sizeof(serial));
		fingerprint(certs[i].x, fp, sizeof(fp));
		pat(&ps,
		    "^czpg_tls_cert_info\\{cert_dir=\"%s\",cert=\"%s\",subject=\"CN=[^\"]+\","
		    "serial=\"%s\",key_type=\"EC\",curve=\"prime256v1\",sha256=\"%s\"\\} 1$",
		    d, certs[i].label, serial, fp);
	}
	family(&ps, "czpg_tls_check_ok");
	for (i = 0; i < CZPG_STATUS_NCHECKS; i++)
		pat(&ps, "^czpg_tls_check_ok\\{cert_dir=\"%s\",check=\"%s\"\\} 1$", d,
		    czpg_status_check_name(i));
	family(&ps, "czpg_tls_key_mode_ok");
	pat(&ps, "^czpg_tls_key_mode_ok\\{cert_dir=\"%s\"\\} 1$", d);
	family(&ps, "czpg_tls_hba_mode");
	for (i = 0; i < 4; i++)
		pat(&ps, "^czpg_tls_hba_mode\\{cert_dir=\"%s\",hba_path=\"%s\",mode=\"%s\"\\} %d$",
		    d, hq, modes[i], strcmp(modes[i], "harden") == 0);
	match_lines((const char *)w.data, ps.p, ps.n);
	for (i = 0; i < ps.n; i++)
		free(ps.p[i]);
	czpg_wbuf_free(&w);
	czpg_status_report_free(r);

	/* a failing set: 0 values and the exit code */
	chmod_in(sub, "server.key", 0644);
	r = collect(&o);
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_status_prometheus(r, &w), 0);
	assert_int_equal(czpg_wbuf_u8(&w, 0), 0);
	assert_contains((const char *)w.data, "check=\"server_key_mode\"} 0\n");
	snprintf(line, sizeof(line), "czpg_tls_status_exit_code{cert_dir=\"%s\"} 1\n", dplain);
	assert_contains((const char *)w.data, line);
	snprintf(line, sizeof(line), "czpg_tls_key_mode_ok{cert_dir=\"%s\"} 0\n", dplain);
	assert_contains((const char *)w.data, line);
	czpg_wbuf_free(&w);
	czpg_status_report_free(r);

	czpg_testcert_rmdir(sub);
	memcpy(f->dir, p, sizeof(f->dir));
	czpg_testcert_free(&old);
}

/* ------------------------------------------------------------ the real binary */

struct run {
	int code;
	char out[65536];
	char err[8192];
};

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (fp == NULL)
		return;
	n = fread(buf, 1, cap - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

/* Runs $CZCTL postgres tls status <args...>; NULL-terminated args. */
static void run_czctl(struct run *res, const char *tmpdir, ...)
{
	const char *bin = getenv("CZCTL");
	char *argv[32];
	char outp[512], errp[512];
	va_list ap;
	int n = 0, st = 0;
	pid_t pid;

	if (bin == NULL || bin[0] == '\0')
		skip();
	argv[n++] = (char *)bin;
	argv[n++] = "postgres";
	argv[n++] = "tls";
	argv[n++] = "status";
	va_start(ap, tmpdir);
	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	path_in(outp, sizeof(outp), tmpdir, "run.out");
	path_in(errp, sizeof(errp), tmpdir, "run.err");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(127);
		execv(bin, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	res->code = WEXITSTATUS(st);
	slurp(outp, res->out, sizeof(res->out));
	slurp(errp, res->err, sizeof(res->err));
	unlink(outp);
	unlink(errp);
}

/* The CLI runs get their own scratch directory next to the cert dir. */
static void scratch(const struct fx *f, char *out, size_t cap)
{
	assert_int_equal(czpg_testcert_tmpdir(out, cap), 0);
	(void)f;
}

static void test_cli_exit_codes(void **state)
{
	struct fx *f = *state;
	struct run *res = calloc(1, sizeof(*res));
	char tmp[256], missing[512];

	assert_non_null(res);
	scratch(f, tmp, sizeof(tmp));

	make_set(f, 0, 80 * DAY + 3600);
	run_czctl(res, tmp, "--cert-dir", f->dir, NULL);
	assert_int_equal(res->code, 0);
	assert_contains(res->out, "[PASS] leaf_expiry: server.crt is valid until");
	assert_contains(res->out, "(80 days left)");
	assert_contains(res->out, "DNS:" DNS ", IP:" IP);
	assert_contains(res->out, "status: ok (exit 0)");

	/* 10 days left: the default 30-day warning trips; --warn-days 5 does not */
	czpg_testcert_free(&f->ca);
	czpg_testcert_free(&f->leaf);
	make_set(f, 0, 10 * DAY + 3600);
	run_czctl(res, tmp, "--cert-dir", f->dir, NULL);
	assert_int_equal(res->code, 1);
	assert_contains(res->out, "[WARN] leaf_expiry");
	run_czctl(res, tmp, "--cert-dir", f->dir, "--warn-days", "5", NULL);
	assert_int_equal(res->code, 0);

	/* wrong key mode */
	chmod_in(f->dir, "server.key", 0644);
	run_czctl(res, tmp, "--cert-dir", f->dir, "--warn-days", "5", NULL);
	assert_int_equal(res->code, 1);
	assert_contains(res->out, "[FAIL] server_key_mode");
	chmod_in(f->dir, "server.key", 0600);

	/* missing directory: 3 and one clear line on stderr */
	path_in(missing, sizeof(missing), f->dir, "absent");
	run_czctl(res, tmp, "--cert-dir", missing, "--json", NULL);
	assert_int_equal(res->code, 3);
	assert_contains(res->err, "czctl postgres tls status: certificate directory");
	assert_contains(res->err, "does not exist");
	run_czctl(res, tmp, "--cert-dir", missing, NULL);
	assert_int_equal(res->code, 3);
	assert_string_equal(res->out, "");
	assert_contains(res->err, "certificate directory");
	assert_null(strchr(strchr(res->err, '\n') + 1, '\n')); /* one line */

	/* usage errors name the bad value */
	run_czctl(res, tmp, NULL);
	assert_int_equal(res->code, 2);
	assert_contains(res->err, "--cert-dir is required");
	run_czctl(res, tmp, "--cert-dir", f->dir, "--warn-days", "soon", NULL);
	assert_int_equal(res->code, 2);
	assert_contains(res->err, "--warn-days 'soon'");
	run_czctl(res, tmp, "--cert-dir", f->dir, "--expect-hba-mode", "strict", NULL);
	assert_int_equal(res->code, 2);
	assert_contains(res->err, "'strict'");
	run_czctl(res, tmp, "--cert-dir", f->dir, "--db-uid", "no-such-user-here", NULL);
	assert_int_equal(res->code, 2);
	run_czctl(res, tmp, "--cert-dir", f->dir, "--json", "--prometheus", NULL);
	assert_int_equal(res->code, 2);
	run_czctl(res, tmp, "--cert-dir", f->dir, "--bogus", NULL);
	assert_int_equal(res->code, 2);
	assert_contains(res->err, "'--bogus'");
	run_czctl(res, tmp, "--help", NULL);
	assert_int_equal(res->code, 0);
	assert_contains(res->out, "--prometheus-file");

	czpg_testcert_rmdir(tmp);
	free(res);
}

static void test_cli_json_and_hba(void **state)
{
	struct fx *f = *state;
	struct run *res = calloc(1, sizeof(*res));
	char tmp[256], hba[512];
	struct jv *doc;
	char *t;

	assert_non_null(res);
	scratch(f, tmp, sizeof(tmp));
	make_set(f, 0, 80 * DAY + 3600);
	path_in(hba, sizeof(hba), f->dir, "pg_hba.conf");
	t = hba_text(CZPG_HBA_MODE_TRANSITION);
	write_in(f->dir, "pg_hba.conf", t);
	free(t);

	run_czctl(res, tmp, "--cert-dir", f->dir, "--hba-path", hba, "--json", NULL);
	assert_int_equal(res->code, 0);
	doc = jparse(res->out);
	if (doc == NULL)
		fail_msg("not JSON: %s", res->out);
	assert_string_equal(jstr(jget(doc, "hba"), "mode"), "transition");
	assert_true(jnum(jget(doc, "leaf"), "days_left") == 80);
	assert_true(jget(doc, "ok")->b);
	jfree(doc);

	run_czctl(res, tmp, "--cert-dir", f->dir, "--hba-path", hba, "--expect-hba-mode", "harden",
		  NULL);
	assert_int_equal(res->code, 1);
	assert_contains(res->out, "[FAIL] hba_block");
	assert_contains(res->out, "pg_hba   ");

	t = hba_text(CZPG_HBA_MODE_HARDEN);
	write_in(f->dir, "pg_hba.conf", t);
	free(t);
	run_czctl(res, tmp, "--cert-dir", f->dir, "--hba-path", hba, "--expect-hba-mode", "harden",
		  "--prometheus", NULL);
	assert_int_equal(res->code, 0);
	assert_contains(res->out, "mode=\"harden\"} 1\n");
	assert_contains(res->out, "mode=\"transition\"} 0\n");

	czpg_testcert_rmdir(tmp);
	free(res);
}

static void test_cli_prometheus_file(void **state)
{
	struct fx *f = *state;
	struct run *res = calloc(1, sizeof(*res));
	char tmp[256], prom[512], body[16384], missing[512];
	struct czpg_fs_info fi;
	DIR *dh;
	struct dirent *de;
	size_t nfiles = 0;
	struct jv *doc;

	assert_non_null(res);
	scratch(f, tmp, sizeof(tmp));
	make_set(f, 0, 80 * DAY + 3600);
	path_in(prom, sizeof(prom), tmp, "czpg_tls.prom");

	run_czctl(res, tmp, "--cert-dir", f->dir, "--prometheus-file", prom, "--json", NULL);
	assert_int_equal(res->code, 0);
	doc = jparse(res->out);
	assert_non_null(doc);
	jfree(doc);
	slurp(prom, body, sizeof(body));
	assert_true(strncmp(body, "# HELP czpg_tls_status_exit_code ", 33) == 0);
	assert_contains(body, "czpg_tls_cert_days_left{cert_dir=\"");
	assert_contains(body, "\",cert=\"leaf\"} 80\n");
	assert_int_equal(czpg_fs_file_info(prom, &fi, NULL, 0), 0);
	assert_int_equal(fi.mode, 0644);
	/* no temporary file is left behind */
	dh = opendir(tmp);
	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			nfiles++;
	closedir(dh);
	assert_int_equal(nfiles, 1);

	/* a missing cert dir replaces the file with exit code 3, no stale numbers */
	path_in(missing, sizeof(missing), f->dir, "absent");
	run_czctl(res, tmp, "--cert-dir", missing, "--prometheus-file", prom, NULL);
	assert_int_equal(res->code, 3);
	slurp(prom, body, sizeof(body));
	assert_contains(body, "\"} 3\n");
	assert_null(strstr(body, "czpg_tls_cert_days_left"));

	/* an unwritable target: could not finish */
	path_in(prom, sizeof(prom), tmp, "no/such/dir.prom");
	run_czctl(res, tmp, "--cert-dir", f->dir, "--prometheus-file", prom, NULL);
	assert_int_equal(res->code, 3);
	assert_contains(res->err, "czctl postgres tls status: ");

	czpg_testcert_rmdir(tmp);
	free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_healthy_80_days, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiring_10_days_warns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_yet_valid_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_expiring_warns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leaf_from_another_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_does_not_match, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_key_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_key_private, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bundle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_optional_files_absent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_required_files_absent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
	    cmocka_unit_test(test_bad_options),
	    cmocka_unit_test_setup_teardown(test_hba_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_version, setup, teardown),
	    cmocka_unit_test(test_prom_label_escape),
	    cmocka_unit_test_setup_teardown(test_prometheus_exact, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cli_exit_codes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cli_json_and_hba, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cli_prometheus_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
