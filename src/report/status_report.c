/*
 * status_report.c - how `czctl postgres tls status` shows its report (see
 * czpg/status_report.h): human text, JSON (RFC 8259) and the Prometheus text
 * exposition format 0.0.4 (label values escaped as that format says).  The
 * checks and the verdict are the verb's (verbs/status.c); this only shows
 * them.
 */
#include "czpg/status_report.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "czpg/hba.h"
#include "czpg/json.h"
#include "czpg/report.h"

/* ------------------------------------------------------------------ names */

const char *czpg_status_check_name(enum czpg_status_check_id id)
{
	switch (id) {
	case CZPG_STATUS_LEAF_EXPIRY:
		return "leaf_expiry";
	case CZPG_STATUS_CA_EXPIRY:
		return "ca_expiry";
	case CZPG_STATUS_LEAF_SIGNED:
		return "leaf_signed_by_ca";
	case CZPG_STATUS_LEAF_KEY_MATCH:
		return "leaf_key_match";
	case CZPG_STATUS_SERVER_KEY_MODE:
		return "server_key_mode";
	case CZPG_STATUS_CA_KEY_PRIVATE:
		return "ca_key_private";
	case CZPG_STATUS_CA_KEY_MATCH:
		return "ca_key_match";
	case CZPG_STATUS_BUNDLE_HAS_CA:
		return "bundle_has_ca";
	case CZPG_STATUS_HBA_BLOCK:
		return "hba_block";
	case CZPG_STATUS_NCHECKS:
		break;
	}
	return "unknown";
}

const char *czpg_status_result_name(enum czpg_status_result res)
{
	switch (res) {
	case CZPG_STATUS_PASS:
		return "pass";
	case CZPG_STATUS_SKIP:
		return "skip";
	case CZPG_STATUS_WARN:
		return "warn";
	case CZPG_STATUS_FAIL:
		return "fail";
	case CZPG_STATUS_ERROR:
		break;
	}
	return "error";
}

void czpg_status_format_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

/* ------------------------------------------------------------------ text */

static void text_sans(FILE *f, const struct czpg_cert_info *in)
{
	size_t i;
	const char *sep = "";

	for (i = 0; i < in->n_dns; i++, sep = ", ")
		fprintf(f, "%sDNS:%s", sep, in->dns_sans[i]);
	for (i = 0; i < in->n_ip; i++, sep = ", ")
		fprintf(f, "%sIP:%s", sep, in->ip_sans[i]);
	if (in->n_other_sans > 0)
		fprintf(f, "%s(%zu more)", sep, in->n_other_sans);
	if (in->n_dns + in->n_ip + in->n_other_sans == 0)
		fprintf(f, "(none)");
}

static void text_key(FILE *f, const struct czpg_cert_info *in)
{
	fprintf(f, "%s%s%s (%d bits)", in->key_type, in->curve[0] != '\0' ? " " : "", in->curve,
		in->key_bits);
}

static void text_days(FILE *f, const struct czpg_cert_info *in)
{
	if (in->days_left < 0)
		fprintf(f, "expired %ld days ago", -in->days_left);
	else
		fprintf(f, "%ld days left", in->days_left);
}

static void text_cert(FILE *f, const char *label, const char *file,
		      const struct czpg_status_cert *sc, bool sans)
{
	char when[32];

	fprintf(f, "%-8s %s", label, file);
	if (sc->state == CZPG_STATUS_FILE_ABSENT) {
		fprintf(f, ": not present\n");
		return;
	}
	if (sc->state == CZPG_STATUS_FILE_UNREADABLE) {
		fprintf(f, ": %s\n", sc->error);
		return;
	}
	fprintf(f, "\n  subject    %s\n", sc->subject);
	if (sans) {
		fprintf(f, "  SANs       ");
		text_sans(f, &sc->info);
		fputc('\n', f);
	}
	fprintf(f, "  serial     %s\n", sc->info.serial);
	czpg_status_format_time(sc->info.not_after_t, when, sizeof(when));
	fprintf(f, "  not after  %s (", when);
	text_days(f, &sc->info);
	fprintf(f, ")\n  key        ");
	text_key(f, &sc->info);
	fprintf(f, "\n  sha256     %s\n", sc->info.fingerprint);
}

void czpg_status_render_text(FILE *f, const struct czpg_status_report *r, enum czpg_result code)
{
	static const char *const tags[] = {"PASS", "SKIP", "WARN", "FAIL", "ERROR"};
	char when[32];
	size_t i;

	if (r->dir_error[0] != '\0') {
		czpg_report_line(f, "ERROR", "%s", r->dir_error);
		return;
	}
	fprintf(f, "certificate directory %s\n", r->cert_dir);
	text_cert(f, "CA", CZPG_CERTDIR_CA_CERT, &r->ca, false);
	text_cert(f, "leaf", CZPG_CERTDIR_LEAF_CERT, &r->leaf, true);
	if (r->previous.state != CZPG_STATUS_FILE_ABSENT)
		text_cert(f, "previous", CZPG_CERTDIR_CA_PREVIOUS, &r->previous, false);
	fprintf(f, "%-8s %s", "bundle", CZPG_CERTDIR_CA_BUNDLE);
	if (r->bundle_state == CZPG_STATUS_FILE_ABSENT)
		fprintf(f, ": not present\n");
	else if (r->bundle_state == CZPG_STATUS_FILE_UNREADABLE)
		fprintf(f, ": %s\n", r->bundle_error);
	else
		fprintf(f, ": %zu CA certificate%s\n", r->n_bundle, r->n_bundle == 1 ? "" : "s");
	for (i = 0; i < r->n_bundle; i++) {
		const struct czpg_status_cert *b = &r->bundle[i];

		if (b->state != CZPG_STATUS_FILE_OK) {
			fprintf(f, "  #%zu %s\n", i, b->error);
			continue;
		}
		czpg_status_format_time(b->info.not_after_t, when, sizeof(when));
		fprintf(f, "  #%zu %s, serial %s, not after %s (", i, b->subject, b->info.serial,
			when);
		text_days(f, &b->info);
		fprintf(f, ")%s%s\n", (long)i == r->bundle_current ? ", current CA" : "",
			(long)i == r->bundle_previous ? ", previous CA" : "");
	}
	if (r->hba_checked)
		fprintf(f, "%-8s %s: %s\n", "pg_hba", r->hba_path,
			r->hba_known ? czpg_hba_mode_name(r->hba_mode) : "not read");
	if (r->server_version[0] != '\0')
		fprintf(f, "%-8s PostgreSQL %s (%s)\n", "server", r->server_version,
			r->server_version_detail);
	else
		fprintf(f, "%-8s version %s\n", "server", r->server_version_detail);
	fputc('\n', f);
	for (i = 0; i < CZPG_STATUS_NCHECKS; i++)
		czpg_report_line(f, tags[r->checks[i].result], "%s: %s",
				 czpg_status_check_name((enum czpg_status_check_id)i),
				 r->checks[i].detail);
	fprintf(f, "\nstatus: %s (exit %d)\n",
		code == CZPG_RESULT_OK     ? "ok"
		: code == CZPG_RESULT_FAIL ? "attention needed"
					   : "incomplete",
		czpg_report_exit_code(code));
	fflush(f);
}

/* ------------------------------------------------------------------ JSON */

static void json_cert(struct czpg_json *j, const char *file, const struct czpg_status_cert *sc)
{
	const struct czpg_cert_info *in = &sc->info;
	char when[32];
	size_t i;

	czpg_json_object_begin(j);
	if (file != NULL)
		czpg_json_kv_string(j, "file", file);
	czpg_json_kv_bool(j, "present", sc->state != CZPG_STATUS_FILE_ABSENT);
	if (sc->state == CZPG_STATUS_FILE_UNREADABLE)
		czpg_json_kv_string(j, "error", sc->error);
	if (sc->state == CZPG_STATUS_FILE_OK) {
		czpg_json_kv_string(j, "subject", sc->subject);
		czpg_json_kv_string(j, "subject_cn", in->subject_cn);
		czpg_json_kv_string(j, "issuer_cn", in->issuer_cn);
		czpg_json_kv_string(j, "serial", in->serial);
		czpg_status_format_time(in->not_before_t, when, sizeof(when));
		czpg_json_kv_string(j, "not_before", when);
		czpg_status_format_time(in->not_after_t, when, sizeof(when));
		czpg_json_kv_string(j, "not_after", when);
		czpg_json_kv_int(j, "not_after_unix", (int64_t)in->not_after_t);
		czpg_json_kv_int(j, "days_left", in->days_left);
		czpg_json_kv_string(j, "key_type", in->key_type);
		czpg_json_kv_string(j, "curve", in->curve[0] != '\0' ? in->curve : NULL);
		czpg_json_kv_int(j, "key_bits", in->key_bits);
		czpg_json_key(j, "dns_sans");
		czpg_json_array_begin(j);
		for (i = 0; i < in->n_dns; i++)
			czpg_json_string(j, in->dns_sans[i]);
		czpg_json_array_end(j);
		czpg_json_key(j, "ip_sans");
		czpg_json_array_begin(j);
		for (i = 0; i < in->n_ip; i++)
			czpg_json_string(j, in->ip_sans[i]);
		czpg_json_array_end(j);
		czpg_json_kv_bool(j, "is_ca", in->is_ca);
		czpg_json_kv_bool(j, "self_signed", in->self_signed);
		czpg_json_kv_string(j, "sha256", in->fingerprint);
	}
	czpg_json_object_end(j);
}

void czpg_status_render_json(FILE *f, const struct czpg_status_report *r, enum czpg_result code)
{
	struct czpg_json j;
	size_t i;

	czpg_json_init(&j, f);
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "cert_dir", r->cert_dir);
	czpg_json_kv_bool(&j, "ok", code == CZPG_RESULT_OK);
	czpg_json_kv_int(&j, "exit_code", czpg_report_exit_code(code));
	czpg_json_kv_int(&j, "now", (int64_t)r->now);
	if (r->dir_error[0] != '\0') {
		czpg_json_kv_string(&j, "error", r->dir_error);
		goto end;
	}
	czpg_json_kv_int(&j, "warn_days", r->warn_days);
	czpg_json_key(&j, "db_uid");
	if (r->db_uid == (uid_t)-1)
		czpg_json_null(&j);
	else
		czpg_json_uint(&j, r->db_uid);
	czpg_json_key(&j, "db_gid");
	if (r->db_gid == (gid_t)-1)
		czpg_json_null(&j);
	else
		czpg_json_uint(&j, r->db_gid);
	czpg_json_kv_bool(&j, "db_user_from_key", r->db_uid_from_key);
	czpg_json_key(&j, "ca");
	json_cert(&j, CZPG_CERTDIR_CA_CERT, &r->ca);
	czpg_json_key(&j, "leaf");
	json_cert(&j, CZPG_CERTDIR_LEAF_CERT, &r->leaf);
	czpg_json_key(&j, "ca_previous");
	json_cert(&j, CZPG_CERTDIR_CA_PREVIOUS, &r->previous);

	czpg_json_key(&j, "bundle");
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "file", CZPG_CERTDIR_CA_BUNDLE);
	czpg_json_kv_bool(&j, "present", r->bundle_state != CZPG_STATUS_FILE_ABSENT);
	if (r->bundle_state == CZPG_STATUS_FILE_UNREADABLE)
		czpg_json_kv_string(&j, "error", r->bundle_error);
	czpg_json_key(&j, "certificates");
	czpg_json_array_begin(&j);
	for (i = 0; i < r->n_bundle; i++)
		json_cert(&j, NULL, &r->bundle[i]);
	czpg_json_array_end(&j);
	czpg_json_key(&j, "current_index");
	if (r->bundle_current >= 0)
		czpg_json_int(&j, r->bundle_current);
	else
		czpg_json_null(&j);
	czpg_json_key(&j, "previous_index");
	if (r->bundle_previous >= 0)
		czpg_json_int(&j, r->bundle_previous);
	else
		czpg_json_null(&j);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "server_version");
	czpg_json_object_begin(&j);
	czpg_json_kv_string(&j, "version", r->server_version[0] != '\0' ? r->server_version : NULL);
	czpg_json_kv_string(&j, "detail", r->server_version_detail);
	czpg_json_object_end(&j);

	czpg_json_key(&j, "hba");
	if (r->hba_checked) {
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "path", r->hba_path);
		czpg_json_kv_string(&j, "mode",
				    r->hba_known ? czpg_hba_mode_name(r->hba_mode) : NULL);
		czpg_json_object_end(&j);
	} else {
		czpg_json_null(&j);
	}

	czpg_json_key(&j, "checks");
	czpg_json_object_begin(&j);
	for (i = 0; i < CZPG_STATUS_NCHECKS; i++) {
		czpg_json_key(&j, czpg_status_check_name((enum czpg_status_check_id)i));
		czpg_json_object_begin(&j);
		czpg_json_kv_string(&j, "result", czpg_status_result_name(r->checks[i].result));
		czpg_json_kv_string(&j, "detail", r->checks[i].detail);
		czpg_json_object_end(&j);
	}
	czpg_json_object_end(&j);
end:
	czpg_json_object_end(&j);
	czpg_json_finish(&j);
}

/* ------------------------------------------------------------ Prometheus */

static int wb_printf(struct czpg_wbuf *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int wb_printf(struct czpg_wbuf *w, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		w->err = true;
		return -1;
	}
	return czpg_wbuf_bytes(w, tmp, (size_t)n);
}

int czpg_status_prom_label_value(struct czpg_wbuf *w, const char *s)
{
	int rc = 0;

	for (; s != NULL && *s != '\0' && rc == 0; s++) {
		if (*s == '\\')
			rc = czpg_wbuf_bytes(w, "\\\\", 2);
		else if (*s == '"')
			rc = czpg_wbuf_bytes(w, "\\\"", 2);
		else if (*s == '\n')
			rc = czpg_wbuf_bytes(w, "\\n", 2);
		else
			rc = czpg_wbuf_bytes(w, s, 1);
	}
	return rc;
}

static void prom_family(struct czpg_wbuf *w, const char *name, const char *help)
{
	wb_printf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* `name{cert_dir="..."` : the caller adds further labels, then prom_end. */
static void prom_begin(struct czpg_wbuf *w, const struct czpg_status_report *r, const char *name)
{
	wb_printf(w, "%s{cert_dir=\"", name);
	czpg_status_prom_label_value(w, r->cert_dir);
	czpg_wbuf_bytes(w, "\"", 1);
}

static void prom_label(struct czpg_wbuf *w, const char *label, const char *value)
{
	wb_printf(w, ",%s=\"", label);
	czpg_status_prom_label_value(w, value);
	czpg_wbuf_bytes(w, "\"", 1);
}

static void prom_end(struct czpg_wbuf *w, long long value)
{
	wb_printf(w, "} %lld\n", value);
}

/* The certificates in a fixed order, with their cert="..." label. */
struct prom_cert {
	char label[32];
	const struct czpg_status_cert *sc;
};

static size_t prom_certs(const struct czpg_status_report *r, struct prom_cert *pc, size_t cap)
{
	size_t n = 0, i;

	if (r->leaf.state == CZPG_STATUS_FILE_OK && n < cap)
		pc[n++] = (struct prom_cert){"leaf", &r->leaf};
	if (r->ca.state == CZPG_STATUS_FILE_OK && n < cap)
		pc[n++] = (struct prom_cert){"ca", &r->ca};
	if (r->previous.state == CZPG_STATUS_FILE_OK && n < cap)
		pc[n++] = (struct prom_cert){"ca_previous", &r->previous};
	for (i = 0; i < r->n_bundle && n < cap; i++) {
		if (r->bundle[i].state != CZPG_STATUS_FILE_OK)
			continue;
		pc[n].sc = &r->bundle[i];
		snprintf(pc[n].label, sizeof(pc[n].label), "bundle_%zu", i);
		n++;
	}
	return n;
}

int czpg_status_render_prometheus(const struct czpg_status_report *r, enum czpg_result outcome,
				  struct czpg_wbuf *w)
{
	static const enum czpg_hba_mode modes[] = {CZPG_HBA_MODE_NONE, CZPG_HBA_MODE_TRANSITION,
						   CZPG_HBA_MODE_HARDEN, CZPG_HBA_MODE_UNKNOWN};
	struct prom_cert pc[3 + CZPG_PKI_MAX_BUNDLE];
	size_t n = 0, i;
	const struct czpg_status_check *km = &r->checks[CZPG_STATUS_SERVER_KEY_MODE];

	prom_family(w, "czpg_tls_status_exit_code",
		    "Exit code of czctl postgres tls status: 0 ok, 1 a check failed or expiry "
		    "is near, 3 could not read.");
	prom_begin(w, r, "czpg_tls_status_exit_code");
	prom_end(w, czpg_report_exit_code(outcome));
	prom_family(w, "czpg_tls_status_last_run_timestamp_seconds",
		    "When czctl postgres tls status produced these numbers (Unix time).");
	prom_begin(w, r, "czpg_tls_status_last_run_timestamp_seconds");
	prom_end(w, (long long)r->now);
	if (r->dir_error[0] != '\0')
		goto out;

	n = prom_certs(r, pc, sizeof(pc) / sizeof(pc[0]));
	if (n > 0) {
		prom_family(w, "czpg_tls_cert_not_after_seconds",
			    "Certificate notAfter (Unix time).");
		for (i = 0; i < n; i++) {
			prom_begin(w, r, "czpg_tls_cert_not_after_seconds");
			prom_label(w, "cert", pc[i].label);
			prom_end(w, (long long)pc[i].sc->info.not_after_t);
		}
		prom_family(w, "czpg_tls_cert_days_left",
			    "Whole days until the certificate expires; negative once expired.");
		for (i = 0; i < n; i++) {
			prom_begin(w, r, "czpg_tls_cert_days_left");
			prom_label(w, "cert", pc[i].label);
			prom_end(w, pc[i].sc->info.days_left);
		}
		prom_family(w, "czpg_tls_cert_info",
			    "Certificate identity; the value is always 1.");
		for (i = 0; i < n; i++) {
			const struct czpg_cert_info *in = &pc[i].sc->info;

			prom_begin(w, r, "czpg_tls_cert_info");
			prom_label(w, "cert", pc[i].label);
			prom_label(w, "subject", pc[i].sc->subject);
			prom_label(w, "serial", in->serial);
			prom_label(w, "key_type", in->key_type);
			prom_label(w, "curve", in->curve);
			prom_label(w, "sha256", in->fingerprint);
			prom_end(w, 1);
		}
	}

	prom_family(w, "czpg_tls_check_ok",
		    "1 when the check passed, 0 when it failed, warned or could not run; "
		    "skipped checks are absent.");
	for (i = 0; i < CZPG_STATUS_NCHECKS; i++) {
		if (r->checks[i].result == CZPG_STATUS_SKIP)
			continue;
		prom_begin(w, r, "czpg_tls_check_ok");
		prom_label(w, "check", czpg_status_check_name((enum czpg_status_check_id)i));
		prom_end(w, r->checks[i].result == CZPG_STATUS_PASS);
	}
	if (km->result == CZPG_STATUS_PASS || km->result == CZPG_STATUS_FAIL) {
		prom_family(w, "czpg_tls_key_mode_ok",
			    "1 when server.key's mode and owner satisfy PostgreSQL for the "
			    "database user.");
		prom_begin(w, r, "czpg_tls_key_mode_ok");
		prom_end(w, km->result == CZPG_STATUS_PASS);
	}
	if (r->hba_checked && r->hba_known) {
		prom_family(
		    w, "czpg_tls_hba_mode",
		    "1 for the mode the managed pg_hba.conf block is in, 0 for the others.");
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			prom_begin(w, r, "czpg_tls_hba_mode");
			prom_label(w, "hba_path", r->hba_path);
			prom_label(w, "mode", czpg_hba_mode_name(modes[i]));
			prom_end(w, r->hba_mode == modes[i]);
		}
	}
out:
	return w->err ? -1 : 0;
}
