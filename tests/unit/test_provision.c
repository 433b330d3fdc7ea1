/*
 * test_provision.c - the parts of provision that need no server: the plan
 * (validation, certificate reuse / rotation decisions, the CA overlap
 * window, the dry-run text never holding a key, the serial names and
 * stable links) on a temporary directory laid out like a container
 * deployment; the journal (round trip, damage, never a key) and the
 * transaction's steps (done, idempotent, undone).  psql result parsing and
 * socket discovery are reload's (test_reload.c).
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

#include <openssl/evp.h>

#include "czpg/result.h"
#include "czpg/fsutil.h"
#include "czpg/pki.h"
#include "czpg/provision.h"
#include "czpg/provision_report.h"
#include "provision_internal.h"
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

static char *pt_slurp_unit(const char *path)
{
	uint8_t *d = NULL;
	size_t n = 0;

	assert_int_equal(czpg_fs_read_file(path, 1 << 20, &d, &n, NULL, 0), 0);
	return (char *)d;
}

static mode_t mode_of_path(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
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
	/* 5 certificate files, cz-tls.conf, pg_hba.conf, 5 stable names. */
	assert_int_equal(czpg_provision_plan_changes(p), 12);
	text = plan_text(p, false);
	assert_null(strstr(text, "PRIVATE KEY"));
	assert_int_equal(count(text, "<new private key, not shown>"), 2);
	assert_non_null(strstr(text, ".key (mode 0600, owner 999:999): server private key"));
	assert_non_null(strstr(text, "/certs/server.key -> server-"));
	/* cz-tls.conf names the serial names, never a stable name that could change under it */
	assert_non_null(strstr(text, "ssl_cert_file = '"));
	assert_null(strstr(text, "/server.crt'"));
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
	/* a fresh set: no previous CA, conf.d and the include_dir are there, nothing to retire */
	for (i = 0; i < CZPG_PROVISION_NROLES; i++)
		assert_int_equal(seen[i], i == CZPG_PROVISION_ROLE_PREV_CA ||
						  i == CZPG_PROVISION_ROLE_LINK_PREV_CA ||
						  i == CZPG_PROVISION_ROLE_CONF_DIR ||
						  i == CZPG_PROVISION_ROLE_PGCONF ||
						  i == CZPG_PROVISION_ROLE_RETIRE
					      ? 0
					      : 1);
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
	/*
	 * The layout of an earlier czctl (regular files under the stable names):
	 * copied once to serial names (4 files and the bundle), the names become
	 * links (5), cz-tls.conf and pg_hba.conf; the dry run says so.
	 */
	assert_non_null(strstr(text, "holds files of an earlier czctl under the stable names"));
	assert_non_null(strstr(text, "(now a file of an earlier czctl)"));
	assert_int_equal(czpg_provision_plan_changes(p), 12);
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

/* ---------------------------------------------------------------- journal, transaction */

static void put_file(const char *name, const char *text, char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/%s", dir, name);
	write_text(path, text);
}

static void add_test_op(struct czpg_txn *t, enum czpg_txn_kind kind, const char *path,
			const char *data, bool link)
{
	struct czpg_txn_op *op = &t->ops[t->n++];

	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->role = CZPG_PROVISION_ROLE_HBA;
	op->step = CZPG_PROVISION_STEP_HBA;
	op->path = strdup(path);
	op->data = (uint8_t *)strdup(data);
	op->len = strlen(data);
	EVP_Digest(data, op->len, op->sha, NULL, EVP_sha256(), NULL);
	op->mode = link ? 0777 : 0644;
	op->uid = (long)geteuid();
	op->gid = (long)getegid();
	op->link = link;
}

/* What was there before a switch op: a file with text, a link to text, or nothing. */
static void set_old(struct czpg_txn_op *op, const char *text, bool link)
{
	op->old_exists = text != NULL;
	op->old_link = link;
	if (text == NULL)
		return;
	op->old = (uint8_t *)strdup(text);
	op->old_len = strlen(text);
	EVP_Digest(text, op->old_len, op->old_sha, NULL, EVP_sha256(), NULL);
	op->old_mode = 0644;
	op->old_uid = (long)geteuid();
	op->old_gid = (long)getegid();
}

/* Every kind of step goes into the journal and comes back the same; a key never goes in. */
static void test_journal_round_trip(void **state)
{
	struct czpg_provision_plan *p = calloc(1, sizeof(*p));
	struct czpg_txn t = {0}, back = {0};
	char jpath[400], f1[400], err[512], *text;
	size_t i;

	(void)state;
	assert_non_null(p);
	assert_int_equal(czpg_fs_mkdir_p(certs, 0755, NULL, 0), 0);
	p->rec.cert_dir = certs;
	p->me_uid = geteuid();
	p->me_gid = getegid();
	t.pid = 4242;
	t.started = 1764000000;
	snprintf(t.what, sizeof(t.what), "transition mode, --rotate-leaf");
	t.have_leaf = true;
	memset(t.leaf_sha, 0xab, 32);
	snprintf(t.leaf_serial, sizeof(t.leaf_serial), "ABCDEF");
	snprintf(f1, sizeof(f1), "%s/with space/pg_hba.conf", dir);
	add_test_op(&t, CZPG_TXN_MKDIR, confd, "", false);
	add_test_op(&t, CZPG_TXN_CREATE, "/k/server-01.key", "-----BEGIN PRIVATE KEY-----\nx\n",
		    false);
	t.ops[1].secret = true;
	add_test_op(&t, CZPG_TXN_TRUST, "/c/ca-bundle.crt", "ca-bundle-00.crt", true);
	set_old(&t.ops[2], "ca-bundle-11.crt", true);
	add_test_op(&t, CZPG_TXN_COMMIT, f1, "host all all 0/0 reject\n\x01\xff", false);
	set_old(&t.ops[3], "local all all trust\n", false);
	add_test_op(&t, CZPG_TXN_COMMIT, "/k/server-02.key", "", false);
	t.ops[4].secret = t.ops[4].same_content = true;
	free(t.ops[4].data);
	t.ops[4].data = calloc(1, 241); /* a key's mode and owner change: its content stays out */
	t.ops[4].len = 241;
	set_old(&t.ops[4], NULL, false);
	t.ops[4].old_exists = true;
	t.ops[4].old_mode = 0640;
	add_test_op(&t, CZPG_TXN_LINK, "/c/server.crt", "server-02.crt", true);
	add_test_op(&t, CZPG_TXN_RETIRE, "/c/server-01.crt", "", false);
	assert_int_equal(czpg_journal_write(p, &t, err, sizeof(err)), 0);
	snprintf(jpath, sizeof(jpath), "%s/%s", certs, CZPG_PROVISION_JOURNAL_FILE);
	text = (char *)pt_slurp_unit(jpath);
	assert_null(strstr(text, "PRIVATE")); /* nor its hex: */
	assert_null(strstr(text, "2d2d2d2d2d424547494e2050524956415445"));
	free(text);
	assert_int_equal(mode_of_path(jpath), 0600);
	assert_int_equal(czpg_journal_read(jpath, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n, t.n);
	assert_int_equal(back.pid, 4242);
	assert_int_equal(back.started, 1764000000);
	assert_string_equal(back.what, t.what);
	assert_true(back.have_leaf);
	assert_memory_equal(back.leaf_sha, t.leaf_sha, 32);
	assert_string_equal(back.leaf_serial, "ABCDEF");
	for (i = 0; i < t.n; i++) {
		const struct czpg_txn_op *a = &t.ops[i], *b = &back.ops[i];

		assert_int_equal(a->kind, b->kind);
		assert_string_equal(a->path, b->path);
		assert_memory_equal(a->sha, b->sha, 32);
		assert_int_equal(a->mode, b->mode);
		assert_int_equal(a->uid, b->uid);
		assert_int_equal(a->link, b->link);
		assert_int_equal(a->len, b->len);
		if (a->kind == CZPG_TXN_CREATE || a->secret)
			assert_null(b->data);
		else
			assert_memory_equal(a->data, b->data, a->len);
		if (a->kind == CZPG_TXN_COMMIT || a->kind == CZPG_TXN_TRUST) {
			assert_int_equal(a->old_exists, b->old_exists);
			assert_int_equal(a->old_link, b->old_link);
			assert_int_equal(a->old_mode, b->old_mode);
			assert_memory_equal(a->old_sha, b->old_sha, 32);
			if (!a->secret)
				assert_memory_equal(a->old, b->old, a->old_len);
		}
	}
	czpg_txn_clear(&back);
	czpg_txn_clear(&t);
	free(p);
}

/* A damaged journal is refused, naming the line, never half believed. */
static void test_journal_damaged(void **state)
{
	static const char *const bad[] = {
	    "",
	    "czpg-provision-journal 1\npid 1\n",                       /* no end */
	    "czpg-provision-journal 2\nend\n",                         /* another format */
	    "czpg-provision-journal 1\nop kind=explode role=0\nend\n", /* no such step */
	    "czpg-provision-journal 1\nop kind=commit role=8 step=1 path=zz mode=420 uid=0 "
	    "gid=0\nend\n",
	    "czpg-provision-journal 1\nend\nop kind=retire\n", /* after the end */
	};
	struct czpg_txn t;
	char path[400], err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_file("journal", bad[i], path, sizeof(path));
		err[0] = '\0';
		assert_int_equal(czpg_journal_read(path, &t, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "cannot be read: the journal is damaged"));
		assert_non_null(strstr(err, " line "));
		assert_int_equal(t.n, 0);
	}
	snprintf(path, sizeof(path), "%s/no-journal", dir);
	assert_int_equal(czpg_journal_read(path, &t, err, sizeof(err)), 1);
}

/*
 * The steps carried out, each knowing from the disk that it is done, and
 * undone back to what was there: a file, a link, nothing.
 */
static void test_txn_do_and_undo(void **state)
{
	struct czpg_txn t = {0};
	char hbaf[400], newf[400], linkf[400], oldlink[400], link_to[64], err[512], note[1024];
	char *got;
	int done;
	ssize_t n;

	(void)state;
	put_file("t-hba.conf", "local all all trust\n", hbaf, sizeof(hbaf));
	put_file("t-old.crt", "old bundle\n", oldlink, sizeof(oldlink));
	snprintf(newf, sizeof(newf), "%s/t-new.crt", dir);
	snprintf(linkf, sizeof(linkf), "%s/t-bundle.crt", dir);
	unlink(linkf);
	unlink(newf);
	assert_int_equal(symlink("t-old.crt", linkf), 0);
	add_test_op(&t, CZPG_TXN_CREATE, newf, "new bundle\n", false);
	add_test_op(&t, CZPG_TXN_TRUST, linkf, "t-new.crt", true);
	set_old(&t.ops[1], "t-old.crt", true);
	add_test_op(&t, CZPG_TXN_COMMIT, hbaf, "hostssl all all 0/0 scram-sha-256\n", false);
	set_old(&t.ops[2], "local all all trust\n", false);
	assert_int_equal(czpg_txn_op_state(&t.ops[0]), CZPG_TXN_OLD);
	assert_int_equal(czpg_txn_op_state(&t.ops[1]), CZPG_TXN_OLD);
	assert_int_equal(czpg_txn_op_state(&t.ops[2]), CZPG_TXN_OLD);
	assert_int_equal(czpg_txn_creates(&t, &done, err, sizeof(err)), 0);
	assert_int_equal(done, 2);
	assert_int_equal(czpg_txn_commits(&t, &done, err, sizeof(err)), 0);
	assert_int_equal(done, 1);
	assert_int_equal(czpg_txn_op_state(&t.ops[0]), CZPG_TXN_NEW);
	assert_int_equal(czpg_txn_op_state(&t.ops[1]), CZPG_TXN_NEW);
	assert_int_equal(czpg_txn_op_state(&t.ops[2]), CZPG_TXN_NEW);
	got = pt_slurp_unit(linkf);
	assert_string_equal(got, "new bundle\n");
	free(got);
	/* Done is done: a second pass changes nothing. */
	assert_int_equal(czpg_txn_creates(&t, &done, err, sizeof(err)), 0);
	assert_int_equal(done, 0);
	assert_int_equal(czpg_txn_commits(&t, &done, err, sizeof(err)), 0);
	assert_int_equal(done, 0);

	assert_int_equal(czpg_txn_undo(&t, note, sizeof(note)), 0);
	assert_non_null(strstr(note, "restored 2 changed files to their previous content"));
	assert_non_null(strstr(note, "t-new.crt"));
	got = pt_slurp_unit(hbaf);
	assert_string_equal(got, "local all all trust\n");
	free(got);
	n = readlink(linkf, link_to, sizeof(link_to) - 1);
	assert_true(n > 0);
	link_to[n] = '\0';
	assert_string_equal(link_to, "t-old.crt");
	assert_int_not_equal(access(newf, F_OK), 0);
	assert_int_equal(czpg_txn_op_state(&t.ops[0]), CZPG_TXN_OLD);
	assert_int_equal(czpg_txn_op_state(&t.ops[1]), CZPG_TXN_OLD);
	assert_int_equal(czpg_txn_op_state(&t.ops[2]), CZPG_TXN_OLD);

	/* Someone else's content is neither old nor new: never overwritten by an undo. */
	write_text(hbaf, "edited by hand\n");
	assert_int_equal(czpg_txn_op_state(&t.ops[2]), CZPG_TXN_OTHER);
	czpg_txn_clear(&t);
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
	    cmocka_unit_test_setup(test_journal_round_trip, clean_certs),
	    cmocka_unit_test(test_journal_damaged),
	    cmocka_unit_test(test_txn_do_and_undo),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
