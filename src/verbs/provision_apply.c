/*
 * provision_apply.c - carrying a provision plan out (see
 * czpg_provision_apply in czpg/provision.h): the transaction of
 * provision_txn.c step by step as the report prints it -- journal, new
 * certificates, cz-tls.conf (the commit point), pg_hba.conf, reload and its
 * confirmation, the stable names, the CA export -- then self-verify.
 *
 * A failed write before the commit point removes what was made; a failure
 * from the commit to the confirmation puts every file the server reads back
 * byte for byte (and reloads again when a reload was sent), so the server
 * keeps the configuration it had; after the confirmation nothing is undone:
 * the journal stays for the next run to finish.  A signal is acted on only
 * where stopping leaves the box whole.  Each step's outcome goes into the
 * record; the lines are printed by src/report/provision_report.c.
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "czpg/provision_report.h"
#include "czpg/verify.h"
#include "provision_internal.h"

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

static const char *signal_name(int sig)
{
	return sig == SIGINT    ? "SIGINT"
	       : sig == SIGTERM ? "SIGTERM"
	       : sig == SIGHUP  ? "SIGHUP"
				: "a signal";
}

/* How many planned files of step s change. */
static int changes_in(const struct czpg_provision_plan *p, enum czpg_provision_step s)
{
	size_t i;
	int n = 0;

	for (i = 0; i < p->rec.nfiles; i++)
		if (p->rec.files[i].step == s && p->rec.files[i].action != CZPG_PROVISION_UNCHANGED)
			n++;
	return n;
}

/* ------------------------------------------------------------ the step lines */

static void certs_line(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	int n = changes_in(p, CZPG_PROVISION_STEP_CERTS);

	step_set(p, CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_PASS, "%s; %d file%s written in %s",
		 r->cert_story, n, n == 1 ? "" : "s", r->cert_dir);
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_CERTS, out);
}

static void conf_lines(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	const struct czpg_provision_file *c =
	    czpg_provision_file_of(p, CZPG_PROVISION_ROLE_TLS_CONF);
	bool written = c != NULL && c->action != CZPG_PROVISION_UNCHANGED;

	if (r->add_include)
		step_set(p, CZPG_PROVISION_STEP_CONF, CZPG_PROVISION_PASS,
			 "%s %s; %s%s line %u added to %s (include_dir)", r->conf_path,
			 written ? "written" : "unchanged",
			 czpg_provision_file_of(p, CZPG_PROVISION_ROLE_CONF_DIR) != NULL
			     ? "the conf dir created first (owner the database user, mode 0700), "
			       "then "
			     : "",
			 "", r->include_line, r->pgconf_path);
	else
		step_set(p, CZPG_PROVISION_STEP_CONF, CZPG_PROVISION_PASS,
			 "%s %s (included by %s line %u)", r->conf_path,
			 written ? "written" : "unchanged", r->pgconf_path, r->include_line);
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_CONF, out);
	step_set(p, CZPG_PROVISION_STEP_HBA, CZPG_PROVISION_PASS, "%s block %s at line %u of %s",
		 r->mode_name, changes_in(p, CZPG_PROVISION_STEP_HBA) > 0 ? "written" : "unchanged",
		 czpg_hba_plan_block_line(p->hba), r->hba_path);
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_HBA, out);
}

static void names_line(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	char links[512] = "", retired[1024] = "";
	size_t i;
	int nl = 0, nr = 0;

	for (i = 0; i < r->nfiles; i++) {
		const struct czpg_provision_file *f = &r->files[i];
		const char *base =
		    strrchr(f->path, '/') != NULL ? strrchr(f->path, '/') + 1 : f->path;
		char *dst = f->is_link ? links : retired;
		size_t cap = f->is_link ? sizeof(links) : sizeof(retired);

		if (f->step != CZPG_PROVISION_STEP_NAMES || f->action == CZPG_PROVISION_UNCHANGED)
			continue;
		snprintf(dst + strlen(dst), cap - strlen(dst), "%s%s%s%s",
			 dst[0] != '\0' ? ", " : "", base, f->is_link ? " -> " : "",
			 f->is_link ? (const char *)f->data : "");
		if (f->is_link)
			nl++;
		else
			nr++;
	}
	if (nl + nr == 0)
		step_set(p, CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PASS,
			 "ca.crt, ca.key, server.crt, server.key, ca-bundle.crt unchanged in %s",
			 r->cert_dir);
	else
		step_set(p, CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_PASS, "%s%s%s%s%s%s", links,
			 nl > 0 && nr > 0 ? "; " : "", nr > 0 ? "retired " : "", retired,
			 nr > 0 ? " (no name points at them any more)" : "", nl > 0 ? "" : "");
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_NAMES, out);
}

static void export_line(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;

	if (r->export_ca == NULL)
		step_set(p, CZPG_PROVISION_STEP_EXPORT, CZPG_PROVISION_SKIP,
			 "no --export-ca: give clients %s", r->bundle_path);
	else
		step_set(p, CZPG_PROVISION_STEP_EXPORT, CZPG_PROVISION_PASS,
			 "%s %s (%d CA certificate%s, mode 0644)", r->export_ca,
			 changes_in(p, CZPG_PROVISION_STEP_EXPORT) > 0 ? "written" : "unchanged",
			 r->prev_in_bundle ? 2 : 1, r->prev_in_bundle ? "s" : "");
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_EXPORT, out);
}

/* ------------------------------------------------------------ verify */

/* Step 7: czctl postgres tls verify, in process.  Returns OK, FAIL or ERROR. */
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

/* ------------------------------------------------------------ the transaction */

/* Before the commit point: remove what was made, drop the journal. */
static void undo_before_commit(struct czpg_provision_plan *p, const char *why, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	char note[1024];
	int failed = czpg_txn_undo(&p->txn, note, sizeof(note));

	if (failed == 0)
		czpg_journal_remove(p, NULL, 0);
	czpg_errf(
	    r->rollback_note, sizeof(r->rollback_note), "%s: %s (no reload was sent)%s", why, note,
	    failed > 0 ? "; RESTORE INCOMPLETE: the journal stays, run again to finish it" : "");
	r->rolled_back = true;
	czpg_provision_print_rollback(r, failed > 0, out);
}

/*
 * The transaction up to the confirmed reload.  Returns OK (the server runs
 * the new files), or the result to stop with, everything put back.
 */
static enum czpg_result run_txn(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	char e[1200], detail[2048], note[1024];
	enum czpg_result rc;
	int w, done, failed;

	if (czpg_journal_write(p, &p->txn, e, sizeof(e)) < 0) {
		/* Its last step (the directory sync) may have put it in place after all. */
		czpg_journal_remove(p, NULL, 0);
		step_set(p, CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_FAIL,
			 "cannot write the journal: %s; nothing was changed", e);
		czpg_provision_print_step(r, CZPG_PROVISION_STEP_CERTS, out);
		return CZPG_RESULT_ERROR;
	}
	/* New names only: nothing the server reads changes yet. */
	w = czpg_txn_creates(&p->txn, &done, e, sizeof(e));
	if (w != 0) {
		if (w < 0) {
			step_set(p, CZPG_PROVISION_STEP_CERTS, CZPG_PROVISION_FAIL, "%s", e);
			czpg_provision_print_step(r, CZPG_PROVISION_STEP_CERTS, out);
		}
		r->interrupted = w > 0 ? czpg_txn_signal() : 0;
		undo_before_commit(p, w > 0 ? "interrupted before the commit point" : "rolled back",
				   out);
		if (w > 0)
			snprintf(r->interrupt_note, sizeof(r->interrupt_note),
				 "%s before the commit point: rolled back, the box is as it was",
				 signal_name(r->interrupted));
		return CZPG_RESULT_ERROR;
	}
	certs_line(p, out);
	/* The commit point: the first rename of a file the server reads. */
	if (czpg_txn_commits(&p->txn, &done, e, sizeof(e)) < 0) {
		step_set(p, CZPG_PROVISION_STEP_CONF, CZPG_PROVISION_FAIL, "%s", e);
		czpg_provision_print_step(r, CZPG_PROVISION_STEP_CONF, out);
		undo_before_commit(p, "rolled back", out);
		return CZPG_RESULT_ERROR;
	}
	conf_lines(p, out);
	if (czpg_txn_count(&p->txn, CZPG_TXN_COMMIT) == 0) {
		step_set(p, CZPG_PROVISION_STEP_RELOAD, CZPG_PROVISION_SKIP,
			 "no file the server reads changed: no reload sent");
		czpg_provision_print_step(r, CZPG_PROVISION_STEP_RELOAD, out);
		return CZPG_RESULT_OK;
	}
	rc = czpg_txn_reload(p, &p->txn, p->before, detail, sizeof(detail));
	step_set(p, CZPG_PROVISION_STEP_RELOAD,
		 rc == CZPG_RESULT_OK ? CZPG_PROVISION_PASS : CZPG_PROVISION_FAIL, "%s", detail);
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_RELOAD, out);
	if (rc == CZPG_RESULT_OK)
		return rc;
	failed = czpg_txn_undo_and_reload(p, &p->txn, note, sizeof(note));
	if (failed == 0)
		czpg_journal_remove(p, NULL, 0);
	czpg_errf(r->rollback_note, sizeof(r->rollback_note), "%s%s", note,
		  failed > 0 ? "; RESTORE INCOMPLETE: the journal stays, run again to finish it"
			     : "");
	r->rolled_back = true;
	czpg_provision_print_rollback(r, failed > 0, out);
	return rc;
}

/* After the confirmed reload: the stable names, the export, the retired files, the journal. */
static enum czpg_result finish_txn(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	char e[1200];
	int done;

	if (czpg_txn_after(&p->txn, &done, e, sizeof(e)) < 0 ||
	    czpg_journal_remove(p, e, sizeof(e)) < 0) {
		step_set(p, CZPG_PROVISION_STEP_NAMES, CZPG_PROVISION_FAIL,
			 "%s; the server runs the new files, and the journal stays: run again to "
			 "finish",
			 e);
		czpg_provision_print_step(r, CZPG_PROVISION_STEP_NAMES, out);
		return CZPG_RESULT_ERROR;
	}
	names_line(p, out);
	export_line(p, out);
	return CZPG_RESULT_OK;
}

/* A run with nothing to change: every step says so, nothing is written, no reload. */
static void nothing_to_change(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;

	r->nothing_to_change = true;
	certs_line(p, out);
	conf_lines(p, out);
	step_set(p, CZPG_PROVISION_STEP_RELOAD, CZPG_PROVISION_SKIP,
		 "nothing to change: no file written, no reload sent");
	czpg_provision_print_step(r, CZPG_PROVISION_STEP_RELOAD, out);
	names_line(p, out);
	export_line(p, out);
}

enum czpg_result czpg_provision_apply(struct czpg_provision_plan *p, FILE *out)
{
	struct czpg_provision_record *r = &p->rec;
	enum czpg_result rc;

	r->applied = true;
	r->result = CZPG_RESULT_OK;
	czpg_provision_print_notes(r, out);
	if (czpg_txn_signal() != 0) {
		r->interrupted = czpg_txn_signal();
		snprintf(r->interrupt_note, sizeof(r->interrupt_note),
			 "%s before any change: nothing was written", signal_name(r->interrupted));
		r->result = CZPG_RESULT_ERROR;
		goto out;
	}
	if (p->txn.n == 0) {
		nothing_to_change(p, out);
	} else if ((rc = run_txn(p, out)) != CZPG_RESULT_OK ||
		   (rc = finish_txn(p, out)) != CZPG_RESULT_OK) {
		r->result = rc;
		if (r->interrupted == 0 && czpg_txn_signal() != 0) {
			r->interrupted = czpg_txn_signal();
			/* It came after the commit point: the change went on to its end first. */
			snprintf(r->interrupt_note, sizeof(r->interrupt_note),
				 "%s after the commit point: the change was carried to its end "
				 "first; %s",
				 signal_name(r->interrupted),
				 r->rolled_back
				     ? "the server rejected it, so it was rolled back and "
				       "the box is as it was"
				     : "it failed, see above");
		}
		goto out;
	}
	/* The transaction is whole: a signal that came during it ends the run here. */
	if (czpg_txn_signal() != 0) {
		r->interrupted = czpg_txn_signal();
		snprintf(r->interrupt_note, sizeof(r->interrupt_note),
			 "%s after the commit point: the change was finished first (the server "
			 "runs it); self-verify skipped",
			 signal_name(r->interrupted));
		r->result = CZPG_RESULT_ERROR;
		goto out;
	}
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
