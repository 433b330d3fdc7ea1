/*
 * provision_report.c - what `czctl postgres tls provision` prints (see
 * czpg/provision_report.h): the dry run, the step lines and summary of an
 * apply, and the JSON object.  Reads the plan's record only; decides
 * nothing.
 */
#include "czpg/provision_report.h"

#include <stdint.h>
#include <string.h>

#include "czpg/json.h"
#include "czpg/report.h"

static const char *const step_name[CZPG_PROVISION_NSTEPS] = {
    [CZPG_PROVISION_STEP_CERTS] = "certificates",
    [CZPG_PROVISION_STEP_CONF] = "postgresql.conf TLS block",
    [CZPG_PROVISION_STEP_HBA] = "pg_hba.conf managed block",
    [CZPG_PROVISION_STEP_RELOAD] = "reload",
    [CZPG_PROVISION_STEP_EXPORT] = "CA export",
    [CZPG_PROVISION_STEP_VERIFY] = "self-verify",
};

static const char *const action_name[] = {
    [CZPG_PROVISION_UNCHANGED] = "unchanged",
    [CZPG_PROVISION_CREATE] = "create",
    [CZPG_PROVISION_REPLACE] = "replace",
    [CZPG_PROVISION_FIX_PERMS] = "fix mode/owner",
};

/* What each file is, as the dry run and the JSON "what" say it. */
static const char *const role_label[CZPG_PROVISION_NROLES] = {
    [CZPG_PROVISION_ROLE_CA_KEY] = "CA private key",
    [CZPG_PROVISION_ROLE_CA_CERT] = "CA certificate",
    [CZPG_PROVISION_ROLE_PREV_CA] = "previous CA certificate",
    [CZPG_PROVISION_ROLE_LEAF_KEY] = "server private key",
    [CZPG_PROVISION_ROLE_LEAF_CERT] = "server certificate",
    [CZPG_PROVISION_ROLE_BUNDLE] = "CA bundle (ssl_ca_file; what clients trust)",
    [CZPG_PROVISION_ROLE_TLS_CONF] = "postgresql.conf TLS block",
    [CZPG_PROVISION_ROLE_HBA] = "pg_hba.conf",
    [CZPG_PROVISION_ROLE_EXPORT] = "exported CA bundle (give it to clients)",
};

static const struct czpg_provision_file *file_of(const struct czpg_provision_record *r,
						 enum czpg_provision_role role)
{
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		if (r->files[i].role == role)
			return &r->files[i];
	return NULL;
}

/* ------------------------------------------------------------ dry run */

static void print_indented(FILE *out, const char *prefix, const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && text[j] != '\n')
			j++;
		fprintf(out, "%s%.*s\n", prefix, (int)(j - i), text + i);
		i = j + 1;
	}
}

static void print_cert_summary(FILE *out, const struct czpg_cert_info *info)
{
	size_t i;

	fprintf(out, "      subject CN=%s, issuer CN=%s, %s %s, serial %s, %ld days left\n",
		info->subject_cn, info->issuer_cn, info->key_type, info->curve, info->serial,
		info->days_left);
	if (info->n_ip + info->n_dns > 0) {
		fprintf(out, "      SANs:");
		for (i = 0; i < info->n_ip; i++)
			fprintf(out, " IP:%s", info->ip_sans[i]);
		for (i = 0; i < info->n_dns; i++)
			fprintf(out, " DNS:%s", info->dns_sans[i]);
		fprintf(out, "\n");
	}
}

static void print_file(FILE *out, const struct czpg_provision_file *f)
{
	if (f->action == CZPG_PROVISION_UNCHANGED) {
		fprintf(out, "  unchanged %s (mode %04o, owner %ld:%ld): %s\n", f->path,
			(unsigned)f->mode, f->uid, f->gid, role_label[f->role]);
		return;
	}
	fprintf(out, "  %s %s (mode %04o, owner %ld:%ld): %s\n", action_name[f->action], f->path,
		(unsigned)f->mode, f->uid, f->gid, role_label[f->role]);
	if (f->action == CZPG_PROVISION_FIX_PERMS) {
		fprintf(out, "      content unchanged; now mode %04o, owner %ld:%ld\n",
			(unsigned)f->old_mode, (long)f->old_uid, (long)f->old_gid);
		return;
	}
	if (f->old_exists &&
	    (f->old_mode != f->mode || (long)f->old_uid != f->uid || (long)f->old_gid != f->gid))
		fprintf(out, "      (now mode %04o, owner %ld:%ld)\n", (unsigned)f->old_mode,
			(long)f->old_uid, (long)f->old_gid);
	if (f->secret) {
		fprintf(out, "      <new private key, not shown>\n");
		return;
	}
	if (f->cert != NULL)
		print_cert_summary(out, f->cert);
	if (f->action == CZPG_PROVISION_CREATE)
		print_indented(out, "    | ", (const char *)f->data, f->len);
	else if (f->diff != NULL)
		print_indented(out, "    ", f->diff, f->diff_len);
	else
		fprintf(out, "      (diff too large to show)\n");
}

static void print_step_files(FILE *out, const struct czpg_provision_record *r,
			     enum czpg_provision_step s)
{
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		if (r->files[i].step == s)
			print_file(out, &r->files[i]);
}

void czpg_provision_print_plan(const struct czpg_provision_record *r, FILE *out)
{
	size_t i, changes = 0;
	char sha[80] = "";

	if (out == NULL)
		return;
	for (i = 0; i < r->nfiles; i++)
		if (r->files[i].action != CZPG_PROVISION_UNCHANGED)
			changes++;
	if (file_of(r, CZPG_PROVISION_ROLE_LEAF_CERT) != NULL)
		snprintf(sha, sizeof(sha), "%.23s...", r->leaf_info.fingerprint);
	fprintf(out, "DRY RUN: nothing is written and the server is not contacted. Add --apply to "
		     "do the following.\n\n");
	fprintf(out, "1. certificates in %s\n   %s\n", r->cert_dir, r->cert_story);
	if (r->gen_ca || r->gen_leaf)
		fprintf(out, "   (keys and serials shown are this run's; --apply generates its "
			     "own)\n");
	if (r->force && r->have_prev)
		fprintf(
		    out,
		    "   NOTE: --force replaces the CA. Clients that trust only the old CA fail "
		    "verify-full until they get the new ca-bundle.crt (it holds both CAs for %d "
		    "days).\n",
		    CZPG_PROVISION_CA_OVERLAP_DAYS);
	print_step_files(out, r, CZPG_PROVISION_STEP_CERTS);
	fprintf(out, "\n2. postgresql.conf TLS block\n   %s includes %s (line %u)\n",
		r->pgconf_path, r->conf_dir, r->include_line);
	print_step_files(out, r, CZPG_PROVISION_STEP_CONF);
	fprintf(out, "\n3. pg_hba.conf managed block (%s mode)\n", r->mode_name);
	print_indented(out, "   ", r->hba_explain, strlen(r->hba_explain));
	print_step_files(out, r, CZPG_PROVISION_STEP_HBA);
	fprintf(out, "\n4. reload (never a restart)\n   run: %s\n", r->reload_desc);
	fprintf(out,
		"   then wait for pg_conf_load_time() to change, and read pg_hba_file_rules and "
		"pg_file_settings for errors through:\n     %s\n",
		r->query_desc);
	fprintf(out, "   then check that %s:%u serves the new server certificate (SHA-256 %s)\n",
		r->verify_host, r->verify_port, sha);
	fprintf(out, "   on any error every file above is restored and the server reloaded "
		     "again\n");
	fprintf(out, "\n5. CA export\n");
	if (r->export_ca == NULL)
		fprintf(out, "  skipped: no --export-ca (clients need %s)\n", r->bundle_path);
	else if (file_of(r, CZPG_PROVISION_ROLE_EXPORT) == NULL)
		fprintf(out, "  %s is the bundle itself\n", r->export_ca);
	print_step_files(out, r, CZPG_PROVISION_STEP_EXPORT);
	fprintf(out, "\n6. self-verify\n");
	if (r->skip_verify)
		fprintf(out,
			"  SKIPPED (--skip-verify): TLS would NOT be proven; run later:\n  %s\n",
			r->verify_command);
	else
		fprintf(out, "  run: %s\n", r->verify_command);
	for (i = 0; i < r->nwarn; i++)
		fprintf(out, "\nWARNING: %s", r->warnings[i]);
	fprintf(out,
		"%s\nsummary: %zu file%s to create or change, %zu unchanged; dry run, nothing "
		"written\n",
		r->nwarn > 0 ? "\n" : "", changes, changes == 1 ? "" : "s", r->nfiles - changes);
	fflush(out);
}

/* ------------------------------------------------------------ apply */

void czpg_provision_print_step(const struct czpg_provision_record *r, enum czpg_provision_step s,
			       FILE *out)
{
	static const char *const tag[] = {
	    [CZPG_PROVISION_NOT_RUN] = "----",
	    [CZPG_PROVISION_PASS] = "PASS",
	    [CZPG_PROVISION_FAIL] = "FAIL",
	    [CZPG_PROVISION_SKIP] = "SKIP",
	};

	if (out == NULL || r->steps[s].state == CZPG_PROVISION_NOT_RUN)
		return;
	czpg_report_line(out, tag[r->steps[s].state], "%s: %s", step_name[s], r->steps[s].detail);
}

void czpg_provision_print_rollback(const struct czpg_provision_record *r, bool incomplete,
				   FILE *out)
{
	if (out != NULL)
		czpg_report_line(out, incomplete ? "FAIL" : "INFO", "rollback: %s",
				 r->rollback_note);
}

void czpg_provision_print_summary(const struct czpg_provision_record *r, FILE *out)
{
	size_t i;

	if (out == NULL)
		return;
	for (i = 0; i < r->nwarn; i++)
		czpg_report_line(out, "WARN", "%s", r->warnings[i]);
	if (r->result == CZPG_RESULT_OK)
		fprintf(out, "summary: PASS, %s mode in force on %s:%u. %s\n", r->mode_name,
			r->verify_host, r->verify_port,
			r->mode == CZPG_HBA_MODE_TRANSITION
			    ? "Next: give the application the exported CA, switch it to "
			      "sslmode=verify-full, then run again with --mode harden --apply."
			    : "Plaintext from the allowed network is refused.");
	else
		fprintf(out, "summary: FAIL (exit %d)%s%s\n", czpg_report_exit_code(r->result),
			r->rolled_back ? "; " : "", r->rolled_back ? r->rollback_note : "");
	fflush(out);
}

/* ------------------------------------------------------------ JSON */

static void json_files(struct czpg_json *j, const struct czpg_provision_record *r)
{
	size_t i;

	czpg_json_key(j, "files");
	czpg_json_array_begin(j);
	for (i = 0; i < r->nfiles; i++) {
		const struct czpg_provision_file *f = &r->files[i];

		czpg_json_object_begin(j);
		czpg_json_kv_string(j, "path", f->path);
		czpg_json_kv_string(j, "step", step_name[f->step]);
		czpg_json_kv_string(j, "what", role_label[f->role]);
		czpg_json_kv_string(j, "action", action_name[f->action]);
		czpg_json_kv_uint(j, "mode", (uint64_t)f->mode);
		czpg_json_kv_int(j, "uid", f->uid);
		czpg_json_kv_int(j, "gid", f->gid);
		czpg_json_kv_bool(j, "secret", f->secret);
		if (!r->applied && f->action != CZPG_PROVISION_UNCHANGED && !f->secret) {
			if (f->action == CZPG_PROVISION_REPLACE) {
				if (f->diff != NULL)
					czpg_json_kv_string(j, "diff", f->diff);
			} else {
				czpg_json_kv_string(j, "content", (const char *)f->data);
			}
		}
		czpg_json_object_end(j);
	}
	czpg_json_array_end(j);
}

static void json_verify(struct czpg_json *j, const struct czpg_provision_record *r)
{
	czpg_json_key(j, "verify");
	if (!r->verified) {
		czpg_json_null(j);
		return;
	}
	czpg_json_object_begin(j);
	czpg_json_kv_string(j, "result", r->vres.pass ? "PASS" : "FAIL");
	czpg_json_kv_string(j, "failure", r->vres.pass ? NULL : r->vres.failure);
	czpg_json_kv_string(j, "client_version", r->vres.client_version);
	czpg_json_kv_string(j, "client_cipher", r->vres.client_cipher);
	czpg_json_kv_bool(j, "pg_stat_ssl_ssl", r->vres.server_ssl);
	czpg_json_kv_string(j, "pg_stat_ssl_version", r->vres.server_version);
	czpg_json_kv_string(j, "pg_stat_ssl_cipher", r->vres.server_cipher);
	czpg_json_kv_string(j, "certificate_serial", r->vres.cert.serial);
	czpg_json_kv_bool(j, "plaintext_checked", r->vres.plaintext_checked);
	czpg_json_kv_bool(j, "plaintext_refused", r->vres.plaintext_refused);
	czpg_json_object_end(j);
}

void czpg_provision_print_json(const struct czpg_provision_record *r, FILE *out)
{
	static const char *const state[] = {
	    [CZPG_PROVISION_NOT_RUN] = "NOT_RUN",
	    [CZPG_PROVISION_PASS] = "PASS",
	    [CZPG_PROVISION_FAIL] = "FAIL",
	    [CZPG_PROVISION_SKIP] = "SKIP",
	};
	struct czpg_json j;
	size_t i;
	int s;

	if (out == NULL)
		return;
	czpg_json_init(&j, out);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "result",
			    !r->applied                   ? "PLAN"
			    : r->result == CZPG_RESULT_OK ? "PASS"
							  : "FAIL");
	czpg_json_kv_int(&j, "exit_code", r->applied ? czpg_report_exit_code(r->result) : 0);
	czpg_json_kv_bool(&j, "applied", r->applied);
	czpg_json_kv_string(&j, "mode", r->mode_name);
	czpg_json_kv_string(&j, "server", r->container ? "container" : "local");
	czpg_json_key(&j, "steps");
	czpg_json_array_begin(&j);
	for (s = 0; s < CZPG_PROVISION_NSTEPS; s++) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "step", step_name[s]);
		czpg_json_kv_string(&j, "result", state[r->steps[s].state]);
		czpg_json_kv_string(&j, "detail", r->steps[s].detail);
		czpg_json_object_end(&j);
	}
	czpg_json_array_end(&j);
	czpg_json_key(&j, "ca");
	czpg_json_object_begin(&j);
	czpg_json_kv_bool(&j, "new", r->gen_ca);
	czpg_json_kv_string(&j, "serial", r->ca_info.serial);
	czpg_json_kv_string(&j, "fingerprint_sha256", r->ca_info.fingerprint);
	czpg_json_kv_int(&j, "days_left", r->ca_info.days_left);
	czpg_json_kv_bool(&j, "previous_in_bundle", r->prev_in_bundle);
	czpg_json_object_end(&j);
	czpg_json_key(&j, "leaf");
	czpg_json_object_begin(&j);
	czpg_json_kv_bool(&j, "new", r->gen_leaf);
	czpg_json_kv_string(&j, "serial", r->leaf_info.serial);
	czpg_json_kv_string(&j, "fingerprint_sha256", r->leaf_info.fingerprint);
	czpg_json_kv_int(&j, "days_left", r->leaf_info.days_left);
	czpg_json_kv_string(&j, "ip", r->ip);
	czpg_json_kv_string(&j, "dns", r->dns);
	czpg_json_object_end(&j);
	json_files(&j, r);
	czpg_json_kv_string(&j, "hba_explanation", r->hba_explain);
	czpg_json_kv_string(&j, "reload_command", r->reload_desc);
	czpg_json_kv_string(&j, "query_command", r->query_desc);
	czpg_json_kv_string(&j, "verify_command", r->verify_command);
	json_verify(&j, r);
	czpg_json_kv_string(&j, "rollback", r->rolled_back ? r->rollback_note : NULL);
	czpg_json_key(&j, "warnings");
	czpg_json_array_begin(&j);
	for (i = 0; i < r->nwarn; i++)
		czpg_json_string(&j, r->warnings[i]);
	czpg_json_array_end(&j);
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}
