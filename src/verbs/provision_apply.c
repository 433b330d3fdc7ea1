/*
 * provision_apply.c - carrying a provision plan out (see
 * czpg_provision_apply in czpg/provision.h): write the certificates,
 * cz-tls.conf and pg_hba.conf; reload (SIGHUP, never a restart) and check
 * that the server accepted every file and serves the new certificate;
 * export the CA; self-verify.
 *
 * A failed write or a failed check puts every written file back byte for
 * byte (and reloads again when a reload was sent), so the server keeps the
 * configuration it had.  Each step's outcome goes into the record; the lines
 * are printed by src/report/provision_report.c as each step ends.
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "czpg/fsutil.h"
#include "czpg/pgconf.h"
#include "czpg/provision_report.h"
#include "czpg/reload.h"
#include "czpg/served_cert.h"
#include "czpg/verify.h"
#include "provision_internal.h"

/* How long the server gets to finish a reload, and to serve the new certificate. */
#define RELOAD_WAIT_MS 10000
#define SERVED_CERT_TIMEOUT_MS 5000

static void step_set(struct czpg_provision_plan *p, enum czpg_provision_step s,
		     enum czpg_provision_state st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void step_set(struct czpg_provision_plan *p, enum czpg_provision_step s,
		     enum czpg_provision_state st, const char *fmt, ...)
{
	struct czpg_provision_step_result *sr = &p->rec.steps[s];
	va_list ap;

	sr->state = st;
	va_start(ap, fmt);
	czpg_verrf(sr->detail, sizeof(sr->detail), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ files */

static int write_file(struct czpg_provision_file *f, char *err, size_t errlen)
{
	if (f->action == CZPG_PROVISION_UNCHANGED)
		return 0;
	if (czpg_fs_write_atomic(f->path, f->data, f->len, f->mode, f->uid, f->gid, err, errlen) <
	    0)
		return -1;
	f->written = true;
	return 0;
}

/* Writes the files of step s; *nwritten counts those that changed.  0, or -1 with err. */
static int write_step(struct czpg_provision_plan *p, enum czpg_provision_step s, int *nwritten,
		      char *err, size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	size_t i;

	*nwritten = 0;
	for (i = 0; i < r->nfiles; i++) {
		if (r->files[i].step != s)
			continue;
		if (write_file(&r->files[i], err, errlen) < 0)
			return -1;
		if (r->files[i].action != CZPG_PROVISION_UNCHANGED)
			(*nwritten)++;
	}
	return 0;
}

/*
 * Puts back every file written so far, newest first: the old content, mode
 * and owner, or no file where there was none.  Says what it did in note.
 * Returns the number of files that could not be put back.
 */
static int restore_files(struct czpg_provision_plan *p, char *note, size_t notelen)
{
	struct czpg_provision_record *r = &p->rec;
	size_t i;
	int failed = 0, restored = 0, removed = 0;
	char e[600];

	note[0] = '\0';
	for (i = r->nfiles; i-- > 0;) {
		struct czpg_provision_file *f = &r->files[i];

		if (!f->written)
			continue;
		if (f->old_exists) {
			if (czpg_fs_write_atomic(f->path, f->old, f->old_len, f->old_mode,
						 (long)f->old_uid, (long)f->old_gid, e,
						 sizeof(e)) < 0) {
				failed++;
				snprintf(note + strlen(note), notelen - strlen(note),
					 "could not restore %s: %s; ", f->path, e);
				continue;
			}
			restored++;
		} else if (unlink(f->path) < 0 && errno != ENOENT) {
			failed++;
			snprintf(note + strlen(note), notelen - strlen(note),
				 "could not remove %s: %s; ", f->path, strerror(errno));
			continue;
		} else {
			removed++;
		}
		f->written = false;
	}
	snprintf(note + strlen(note), notelen - strlen(note),
		 "restored %d changed file%s to %s previous content", restored,
		 restored == 1 ? "" : "s", restored == 1 ? "its" : "their");
	if (removed > 0)
		snprintf(note + strlen(note), notelen - strlen(note), " and removed %d new file%s",
			 removed, removed == 1 ? "" : "s");
	r->rolled_back = true;
	return failed;
}

/*
 * Steps 1-3: certificates, cz-tls.conf, pg_hba.conf.  A failed write
 * restores what was written (no reload was sent yet).
 */
static enum czpg_result write_config(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	enum czpg_provision_step s;
	char e[1200], note[1024];
	int n, failed;

	for (s = CZPG_PROVISION_STEP_CERTS; s <= CZPG_PROVISION_STEP_HBA; s++) {
		const char *dir = s == CZPG_PROVISION_STEP_CERTS  ? r->cert_dir
				  : s == CZPG_PROVISION_STEP_CONF ? r->conf_dir
								  : NULL;

		if ((dir != NULL && czpg_fs_mkdir_p(dir, 0755, e, sizeof(e)) < 0) ||
		    write_step(p, s, &n, e, sizeof(e)) < 0) {
			step_set(p, s, CZPG_PROVISION_FAIL, "%s", e);
			czpg_provision_print_step(r, s, out);
			failed = restore_files(p, note, sizeof(note));
			czpg_errf(r->rollback_note, sizeof(r->rollback_note),
				  "%s (no reload was sent)%s", note,
				  failed > 0 ? "; RESTORE INCOMPLETE" : "");
			czpg_provision_print_rollback(r, failed > 0, out);
			return CZPG_RESULT_ERROR;
		}
		if (s == CZPG_PROVISION_STEP_CERTS)
			step_set(p, s, CZPG_PROVISION_PASS, "%s; %d file%s written in %s",
				 r->cert_story, n, n == 1 ? "" : "s", r->cert_dir);
		else if (s == CZPG_PROVISION_STEP_CONF)
			step_set(p, s, CZPG_PROVISION_PASS, "%s %s (included by %s line %u)",
				 r->conf_path, n > 0 ? "written" : "unchanged", r->pgconf_path,
				 r->include_line);
		else
			step_set(p, s, CZPG_PROVISION_PASS, "%s block %s at line %u of %s",
				 r->mode_name, n > 0 ? "written" : "unchanged",
				 czpg_hba_plan_block_line(p->hba), r->hba_path);
		czpg_provision_print_step(r, s, out);
	}
	return CZPG_RESULT_OK;
}

/* ------------------------------------------------------------ reload */

/*
 * After the reload signal: the server re-read its files, reports no error
 * in what was written, and serves the planned certificate.  Returns
 * CZPG_RESULT_OK (detail says what was seen), CZPG_RESULT_FAIL when the
 * server rejected the files or serves another certificate, or
 * CZPG_RESULT_ERROR when it could not be asked.
 */
static enum czpg_result wait_and_check(struct czpg_provision_plan *p, const char *before,
				       const char *how, char *detail, size_t detlen)
{
	struct czpg_provision_record *r = &p->rec;
	const struct czpg_provision_file *leaf =
	    czpg_provision_file_of(p, CZPG_PROVISION_ROLE_LEAF_CERT);
	char after[128], e[1200], errors[2048], others[2048];
	uint8_t got[32];
	int w, n, attempt, sc = -1;

	if (leaf == NULL || leaf->cert == NULL) {
		czpg_errf(detail, detlen, "cannot hash the planned server certificate");
		return CZPG_RESULT_ERROR;
	}
	w = czpg_reload_wait(&p->srv, before, RELOAD_WAIT_MS, after, sizeof(after), e, sizeof(e));
	if (w < 0) {
		czpg_errf(detail, detlen, "after %s: %s", how, e);
		return CZPG_RESULT_ERROR;
	}
	n = czpg_reload_check_views(&p->srv, CZPG_PGCONF_TLS_FILE, errors, sizeof(errors), others,
				    sizeof(others), e, sizeof(e));
	if (n < 0) {
		czpg_errf(detail, detlen, "after %s: %s", how, e);
		return CZPG_RESULT_ERROR;
	}
	if (others[0] != '\0')
		czpg_provision_warn(
		    p, "the server reports errors in files provision did not write: %s", others);
	if (n > 0) {
		czpg_errf(detail, detlen,
			  "the server rejects the files as written (PostgreSQL keeps its previous "
			  "settings when a file has errors): %s",
			  errors);
		return CZPG_RESULT_FAIL;
	}
	/* After a confirmed reload the answer is final; allow a few tries anyway. */
	for (attempt = 0; attempt < (w == 0 ? 4 : 20); attempt++) {
		sc = czpg_served_cert_sha256(r->verify_host, r->verify_port, SERVED_CERT_TIMEOUT_MS,
					     got, e, sizeof(e));
		if (sc == 0 && memcmp(got, leaf->cert->sha256, 32) == 0)
			break;
		usleep(250 * 1000);
	}
	if (sc != 0 || memcmp(got, leaf->cert->sha256, 32) != 0) {
		czpg_errf(detail, detlen,
			  "%s:%u %s after the reload: PostgreSQL did not load the new certificate "
			  "and key (its log says \"SSL configuration was not reloaded\"); check "
			  "that server.key is owned by the database user (uid %ld) with mode 0600 "
			  "and that the server can read %s%s%s%s",
			  r->verify_host, r->verify_port,
			  sc == 1   ? "still does not offer TLS"
			  : sc == 0 ? "still serves a different certificate"
				    : "could not be reached over TLS",
			  p->db_uid, p->server_cert_dir, sc < 0 ? " (" : "", sc < 0 ? e : "",
			  sc < 0 ? ")" : "");
		return CZPG_RESULT_FAIL;
	}
	czpg_errf(detail, detlen,
		  "%s; configuration reloaded at %s%s; pg_hba_file_rules and pg_file_settings "
		  "show no error; %s:%u serves the leaf with serial %s",
		  how, after, w == 1 ? " (load time unchanged)" : "", r->verify_host,
		  r->verify_port, r->leaf_info.serial);
	return CZPG_RESULT_OK;
}

/* Puts every file back and reloads again, so the server drops what it may have read. */
static void roll_back_reloaded(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	char note[1024], before[128], how[1200], e[600], after[128];
	int failed, w;

	failed = restore_files(p, note, sizeof(note));
	if (czpg_reload_load_time(&p->srv, before, sizeof(before), e, sizeof(e)) < 0)
		before[0] = '\0';
	if (czpg_reload_signal(&p->srv, how, sizeof(how), e, sizeof(e)) < 0) {
		czpg_errf(r->rollback_note, sizeof(r->rollback_note),
			  "%s; the second reload failed: %s", note, e);
	} else {
		w = czpg_reload_wait(&p->srv, before, RELOAD_WAIT_MS, after, sizeof(after), e,
				     sizeof(e));
		czpg_errf(r->rollback_note, sizeof(r->rollback_note), "%s; reloaded again (%s)%s",
			  note, how, w == 0 ? "" : ": reload not confirmed");
	}
	czpg_provision_print_rollback(r, failed > 0, out);
}

/* Step 4: reload and check; on failure everything is rolled back. */
static enum czpg_result reload_step(struct czpg_provision_plan *p, const char *before, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	char e[1200], how[1200], detail[2048];
	enum czpg_result rc;

	if (czpg_reload_signal(&p->srv, how, sizeof(how), e, sizeof(e)) < 0) {
		czpg_errf(detail, sizeof(detail), "%s", e);
		rc = CZPG_RESULT_ERROR;
	} else {
		rc = wait_and_check(p, before, how, detail, sizeof(detail));
	}
	step_set(p, CZPG_PROVISION_STEP_RELOAD,
		 rc == CZPG_RESULT_OK ? CZPG_PROVISION_PASS : CZPG_PROVISION_FAIL, "%s", detail);
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_RELOAD, out);
	if (rc != CZPG_RESULT_OK)
		roll_back_reloaded(p, out);
	return rc;
}

/* ------------------------------------------------------------ export, verify */

/* Step 5: the CA bundle where --export-ca says.  Returns OK or ERROR. */
static enum czpg_result export_step(struct czpg_provision_plan *p)
{
	struct czpg_provision_record *r = &p->rec;
	char e[1200] = "out of memory", *d;
	int w, n = 0;

	if (r->export_ca == NULL) {
		step_set(p, CZPG_PROVISION_STEP_EXPORT, CZPG_PROVISION_SKIP,
			 "no --export-ca: give clients %s", r->bundle_path);
		return CZPG_RESULT_OK;
	}
	d = czpg_provision_path_dir(r->export_ca);
	w = d != NULL ? czpg_fs_mkdir_p(d, 0755, e, sizeof(e)) : -1;
	free(d);
	if (w == 0)
		w = write_step(p, CZPG_PROVISION_STEP_EXPORT, &n, e, sizeof(e));
	if (w < 0) {
		step_set(p, CZPG_PROVISION_STEP_EXPORT, CZPG_PROVISION_FAIL, "%s", e);
		return CZPG_RESULT_ERROR;
	}
	step_set(p, CZPG_PROVISION_STEP_EXPORT, CZPG_PROVISION_PASS,
		 "%s %s (%d CA certificate%s, mode 0644)", r->export_ca,
		 n > 0 ? "written" : "unchanged", r->prev_in_bundle ? 2 : 1,
		 r->prev_in_bundle ? "s" : "");
	return CZPG_RESULT_OK;
}

/* Step 6: czctl postgres tls verify, in process.  Returns OK, FAIL or ERROR. */
static enum czpg_result verify_step(struct czpg_provision_plan *p)
{
	struct czpg_provision_record *r = &p->rec;
	struct czpg_verify_options vo = {0};

	if (p->o.skip_verify) {
		step_set(p, CZPG_PROVISION_STEP_VERIFY, CZPG_PROVISION_SKIP,
			 "--skip-verify: TLS is NOT proven until you run: %s", r->verify_command);
		return CZPG_RESULT_OK;
	}
	vo.host = r->verify_host;
	vo.port = r->verify_port;
	vo.user = r->verify_user;
	vo.dbname = r->verify_dbname;
	vo.ca_file = r->bundle_path;
	vo.password = p->o.password;
	vo.channel_binding = CZPG_CB_PREFER;
	vo.expect_plaintext_refused = p->o.mode == CZPG_HBA_MODE_HARDEN;
	vo.min_tls = p->o.allow_tls12_fallback ? TLS1_2_VERSION : TLS1_3_VERSION;
	vo.timeout_ms = p->o.timeout_ms != 0 ? p->o.timeout_ms : 10000;
	vo.client = CZPG_VERIFY_NATIVE;
	r->verified = true;
	if (czpg_verify_run(&vo, &r->vres) < 0) {
		step_set(p, CZPG_PROVISION_STEP_VERIFY, CZPG_PROVISION_FAIL, "could not run: %s",
			 r->vres.failure);
		return CZPG_RESULT_ERROR;
	}
	if (!r->vres.pass) {
		step_set(p, CZPG_PROVISION_STEP_VERIFY, CZPG_PROVISION_FAIL, "%s%s%s",
			 r->vres.failure, r->vres.hint[0] != '\0' ? "; hint: " : "", r->vres.hint);
		return CZPG_RESULT_FAIL;
	}
	step_set(p, CZPG_PROVISION_STEP_VERIFY, CZPG_PROVISION_PASS,
		 "verify-full as %s to %s:%u: client %s / %s, pg_stat_ssl ssl=true %s / %s%s",
		 r->verify_user, r->verify_host, r->verify_port, r->vres.client_version,
		 r->vres.client_cipher, r->vres.server_version, r->vres.server_cipher,
		 r->vres.plaintext_checked ? "; plaintext refused" : "");
	return CZPG_RESULT_OK;
}

enum czpg_result czpg_provision_apply(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	char e[1200], before[128];
	enum czpg_result rc;

	r->applied = true;
	r->result = CZPG_RESULT_OK;
	/* The checks after the reload need the server: make sure it answers first. */
	if (czpg_reload_load_time(&p->srv, before, sizeof(before), e, sizeof(e)) < 0) {
		step_set(p, CZPG_PROVISION_STEP_RELOAD, CZPG_PROVISION_FAIL,
			 "%s; nothing was written", e);
		czpg_provision_print_step(r, CZPG_PROVISION_STEP_RELOAD, out);
		r->result = CZPG_RESULT_ERROR;
		goto out;
	}
	if ((rc = write_config(p, out)) != CZPG_RESULT_OK ||
	    (rc = reload_step(p, before, out)) != CZPG_RESULT_OK) {
		r->result = rc;
		goto out;
	}
	/* From here on the new configuration is in force: a failure is reported, not undone. */
	if ((rc = export_step(p)) != CZPG_RESULT_OK)
		r->result = rc;
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_EXPORT, out);
	if ((rc = verify_step(p)) != CZPG_RESULT_OK)
		r->result = rc;
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_VERIFY, out);
	if (r->verified && out != NULL) {
		struct czpg_verify_options vo = {
		    .host = r->verify_host, .port = r->verify_port, .user = r->verify_user};

		czpg_verify_print(out, &vo, &r->vres);
	}
out:
	czpg_provision_print_summary(r, out);
	return r->result;
}
