/*
 * test_provision.c - the parts of provision that need no server: the plan
 * (validation, certificate reuse / rotation decisions, the CA overlap
 * window, the dry-run text never holding a key) on a temporary directory
 * laid out like a container deployment.  psql result parsing and socket
 * discovery are reload's (test_reload.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "czpg/result.h"
#include "czpg/fsutil.h"
#include "czpg/pki.h"
#include "czpg/provision.h"
#include "czpg/provision_report.h"
#include "testcert.h"

static char dir[256], certs[300], hba[300], pgconf[300], confd[300];
static const char *roles[] = {"cz_audit_writer", "audit_ro"};

/* ---------------------------------------------------------------- plan */

static void write_text(const char *path, const char *text)
{
	assert_int_equal(czpg_fs_write_atomic(path, text, strlen(text), 0644, -1, -1, NULL, 0), 0);
}

static struct czpg_provision_opts base_opts(void)
{
	struct czpg_provision_opts o = {
	    .ip = "10.20.1.1",
	    .dns = "audit-pg.internal",
	    .allow_cidr = "10.20.1.2/32",
	    .roles = roles,
	    .n_roles = 2,
	    .mode = CZPG_HBA_MODE_TRANSITION,
	    .cert_dir = certs,
	    .container = "cz-audit-pg",
	    .hba_path = hba,
	    .db_uid = -1,
	    .db_gid = -1,
	};
	return o;
}

static char *plan_text(struct czpg_provision_plan *p, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		czpg_provision_print_json(czpg_provision_plan_record(p), f);
	else
		czpg_provision_print_plan(czpg_provision_plan_record(p), f);
	fclose(f);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void test_plan_fresh(void **state)
{
	struct czpg_provision_opts o = base_opts();
	struct czpg_provision_plan *p = NULL;
	char err[1024], *text;

	(void)state;
	assert_int_equal(czpg_provision_plan(&o, &p, err, sizeof(err)), CZPG_RESULT_OK);
	/* 5 certificate files, cz-tls.conf, pg_hba.conf. */
	assert_int_equal(czpg_provision_plan_changes(p), 7);
	text = plan_text(p, false);
	assert_null(strstr(text, "PRIVATE KEY"));
	assert_int_equal(count(text, "<new private key, not shown>"), 2);
	assert_non_null(strstr(text, "/server.key (mode 0600, owner 999:999)"));
	assert_non_null(strstr(text, "run: docker kill -s HUP cz-audit-pg"));
	assert_non_null(strstr(text, "cz_audit_writer,audit_ro"));
	assert_non_null(strstr(text, "--host 10.20.1.1 --port 5432 --user cz_audit_writer "
				     "--dbname postgres"));
	assert_non_null(strstr(text, "SANs: IP:10.20.1.1 DNS:audit-pg.internal"));
	free(text);
	text = plan_text(p, true);
	assert_null(strstr(text, "PRIVATE KEY"));
	assert_non_null(strstr(text, "\"result\":\"PLAN\""));
	free(text);
	czpg_provision_plan_free(p);
	/* Nothing was written. */
	assert_int_not_equal(access(certs, F_OK), 0);
}

/* Every file has one role, found by role; --export-ca naming the bundle adds no file. */
static void test_plan_roles_and_export(void **state)
{
	struct czpg_provision_opts o = base_opts();
	struct czpg_provision_plan *p = NULL;
	const struct czpg_provision_record *r;
	char err[1024], bundle[400], exported[400], *text;
	int seen[CZPG_PROVISION_NROLES] = {0};
	size_t i;

	(void)state;
	snprintf(exported, sizeof(exported), "%s/export/ca.crt", dir);
	o.export_ca = exported;
	assert_int_equal(czpg_provision_plan(&o, &p, err, sizeof(err)), CZPG_RESULT_OK);
	r = czpg_provision_plan_record(p);
	for (i = 0; i < r->nfiles; i++)
		seen[r->files[i].role]++;
	/* a fresh set: no previous CA; everything else once */
	for (i = 0; i < CZPG_PROVISION_NROLES; i++)
		assert_int_equal(seen[i], i == CZPG_PROVISION_ROLE_PREV_CA ? 0 : 1);
	for (i = 0; i < r->nfiles; i++) {
		const struct czpg_provision_file *f = &r->files[i];

		assert_int_equal(f->secret, f->role == CZPG_PROVISION_ROLE_CA_KEY ||
						f->role == CZPG_PROVISION_ROLE_LEAF_KEY);
		if (f->role == CZPG_PROVISION_ROLE_EXPORT) {
			assert_string_equal(f->path, exported);
			assert_int_equal(f->step, CZPG_PROVISION_STEP_EXPORT);
		}
		if (f->role == CZPG_PROVISION_ROLE_LEAF_CERT) {
			assert_non_null(f->cert);
			assert_memory_equal(f->cert->sha256, r->leaf_info.sha256, 32);
		}
	}
	text = plan_text(p, false);
	assert_non_null(strstr(text, "exported CA bundle (give it to clients)"));
	assert_null(strstr(text, "is the bundle itself"));
	free(text);
	czpg_provision_plan_free(p);

	/* --export-ca is ca-bundle.crt itself: nothing more to write, and the dry run says so */
	snprintf(bundle, sizeof(bundle), "%s/ca-bundle.crt", certs);
	o.export_ca = bundle;
	assert_int_equal(czpg_provision_plan(&o, &p, err, sizeof(err)), CZPG_RESULT_OK);
	r = czpg_provision_plan_record(p);
	for (i = 0; i < r->nfiles; i++)
		assert_int_not_equal(r->files[i].role, CZPG_PROVISION_ROLE_EXPORT);
	text = plan_text(p, false);
	assert_non_null(strstr(text, "ca-bundle.crt is the bundle itself"));
	free(text);
	czpg_provision_plan_free(p);
}

static void expect_usage(struct czpg_provision_opts *o, const char *needle)
{
	struct czpg_provision_plan *p = NULL;
	char err[1024] = "";

	assert_int_equal(czpg_provision_plan(o, &p, err, sizeof(err)), CZPG_RESULT_BAD_INPUT);
	assert_null(p);
	if (strstr(err, needle) == NULL)
		fail_msg("expected '%s' in: %s", needle, err);
}

static void test_plan_rejects_bad_input(void **state)
{
	static const char *bad_roles[] = {"ok_role", "bad role"};
	static const char *dup_roles[] = {"r", "r"};
	struct czpg_provision_opts o;

	(void)state;
	o = base_opts(), o.ip = "10.20.1";
	expect_usage(&o, "--ip '10.20.1'");
	o = base_opts(), o.dns = "-bad.internal";
	expect_usage(&o, "--dns '-bad.internal'");
	o = base_opts(), o.allow_cidr = "10.20.1.2/33";
	expect_usage(&o, "--allow-cidr '10.20.1.2/33'");
	o = base_opts(), o.roles = bad_roles;
	expect_usage(&o, "--role 'bad role'");
	o = base_opts(), o.roles = dup_roles;
	expect_usage(&o, "--role 'r' is given twice");
	o = base_opts(), o.n_roles = 0;
	expect_usage(&o, "--role is required");
	o = base_opts(), o.container = NULL;
	expect_usage(&o, "--pgdata DIR");
	o = base_opts(), o.hba_path = NULL;
	expect_usage(&o, "--hba-path is required with --container");
	o = base_opts(), o.force = true, o.rotate_leaf = true;
	expect_usage(&o, "exclude each other");
	o = base_opts(), o.server_cert_dir = "relative/dir";
	expect_usage(&o, "--server-cert-dir 'relative/dir' must be an absolute path");
	o = base_opts(), o.conf_dir = "/nonexistent/conf.d";
	expect_usage(&o, "include_dir = '/nonexistent/conf.d'");
}

/* Writes a CA (+ key), a leaf for ip/dns signed by it, and a previous CA. */
static void write_set(const char *ip, const char *dns, bool with_prev)
{
	EVP_PKEY *cak = NULL, *lk = NULL, *pk = NULL;
	X509 *ca = NULL, *leaf = NULL, *prev = NULL;
	struct czpg_wbuf b;
	char path[400];

	assert_int_equal(czpg_fs_mkdir_p(certs, 0755, NULL, 0), 0);
	assert_int_equal(czpg_pki_make_ca("test CA", NULL, &ca, &cak, NULL, 0), 0);
	assert_int_equal(czpg_pki_make_leaf(dns, ip, NULL, ca, cak, &leaf, &lk, NULL, 0), 0);
#define PUT(name, fn, obj, mode, uid)                                                              \
	do {                                                                                       \
		czpg_wbuf_init(&b, 0);                                                             \
		assert_int_equal(fn(obj, &b, NULL, 0), 0);                                         \
		snprintf(path, sizeof(path), "%s/%s", certs, name);                                \
		assert_int_equal(                                                                  \
		    czpg_fs_write_atomic(path, b.data, b.len, mode, uid, uid, NULL, 0), 0);        \
		czpg_wbuf_free_secure(&b);                                                         \
	} while (0)
	PUT("ca.crt", czpg_pki_cert_to_pem, ca, 0644, (long)geteuid());
	PUT("ca.key", czpg_pki_key_to_pem, cak, 0600, (long)geteuid());
	PUT("server.crt", czpg_pki_cert_to_pem, leaf, 0644, (long)geteuid());
	PUT("server.key", czpg_pki_key_to_pem, lk, 0600, 999L);
	if (with_prev) {
		assert_int_equal(czpg_pki_make_ca("old CA", NULL, &prev, &pk, NULL, 0), 0);
		PUT("ca-previous.crt", czpg_pki_cert_to_pem, prev, 0644, (long)geteuid());
	}
#undef PUT
	X509_free(ca);
	X509_free(leaf);
	X509_free(prev);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(pk);
}

static void test_plan_reuses_and_checks_names(void **state)
{
	struct czpg_provision_opts o = base_opts();
	struct czpg_provision_plan *p = NULL;
	char err[1024], *text;

	(void)state;
	write_set("10.20.1.1", "audit-pg.internal", false);
	assert_int_equal(czpg_provision_plan(&o, &p, err, sizeof(err)), CZPG_RESULT_OK);
	text = plan_text(p, false);
	assert_non_null(strstr(text, "CA reused"));
	assert_non_null(strstr(text, "leaf reused"));
	assert_non_null(strstr(text, "unchanged "));
	/* ca-bundle.crt, cz-tls.conf, pg_hba.conf */
	assert_int_equal(czpg_provision_plan_changes(p), 3);
	free(text);
	czpg_provision_plan_free(p);

	/* A leaf for other names is never served silently. */
	o.dns = "other.internal";
	expect_usage(&o, "--rotate-leaf");
	o.rotate_leaf = true;
	assert_int_equal(czpg_provision_plan(&o, &p, err, sizeof(err)), CZPG_RESULT_OK);
	text = plan_text(p, false);
	assert_non_null(strstr(text, "leaf new (--rotate-leaf)"));
	assert_non_null(strstr(text, "CA reused"));
	free(text);
	czpg_provision_plan_free(p);
}

static void test_ca_overlap_window(void **state)
{
	struct czpg_provision_opts o = base_opts();
	struct czpg_provision_plan *p = NULL;
	char err[1024], *text;

	(void)state;
	write_set("10.20.1.1", "audit-pg.internal", true);
	/* Just rotated: the previous CA is in the bundle. */
	assert_int_equal(czpg_provision_plan(&o, &p, err, sizeof(err)), CZPG_RESULT_OK);
	text = plan_text(p, true);
	assert_non_null(strstr(text, "\"previous_in_bundle\":true"));
	free(text);
	czpg_provision_plan_free(p);

	/* 100 days on: the window (90 days) is over; the leaf needs rotating too. */
	o.now = time(NULL) + 100 * 86400;
	expect_usage(&o, "expired");
	o.rotate_leaf = true;
	assert_int_equal(czpg_provision_plan(&o, &p, err, sizeof(err)), CZPG_RESULT_OK);
	text = plan_text(p, true);
	assert_non_null(strstr(text, "\"previous_in_bundle\":false"));
	free(text);
	czpg_provision_plan_free(p);

	/* --force: a new CA, the current one becomes the previous one, in the bundle. */
	o = base_opts();
	o.force = true;
	assert_int_equal(czpg_provision_plan(&o, &p, err, sizeof(err)), CZPG_RESULT_OK);
	text = plan_text(p, false);
	assert_non_null(strstr(text, "CA new (--force)"));
	assert_non_null(strstr(text, "previous CA kept in the bundle"));
	assert_non_null(strstr(text, "--force replaces the CA"));
	assert_null(strstr(text, "PRIVATE KEY"));
	free(text);
	czpg_provision_plan_free(p);
}

static int setup(void **state)
{
	(void)state;
	if (czpg_testcert_tmpdir(dir, sizeof(dir)) < 0 || chmod(dir, 0755) < 0)
		return -1;
	snprintf(certs, sizeof(certs), "%s/certs", dir);
	snprintf(hba, sizeof(hba), "%s/pg_hba.conf", dir);
	snprintf(pgconf, sizeof(pgconf), "%s/postgresql.conf", dir);
	snprintf(confd, sizeof(confd), "%s/conf.d", dir);
	if (mkdir(confd, 0755) < 0)
		return -1;
	write_text(hba, "local all all trust\nhost all all 10.20.1.2/32 scram-sha-256\n");
	write_text(pgconf, "listen_addresses = '*'\ninclude_dir = 'conf.d'\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Each certificate test starts from an empty cert dir. */
static int clean_certs(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", certs);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_plan_fresh, clean_certs),
	    cmocka_unit_test_setup(test_plan_roles_and_export, clean_certs),
	    cmocka_unit_test_setup(test_plan_rejects_bad_input, clean_certs),
	    cmocka_unit_test_setup(test_plan_reuses_and_checks_names, clean_certs),
	    cmocka_unit_test_setup(test_ca_overlap_window, clean_certs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
