/*
 * status_report.h - how `czctl postgres tls status` shows its report (see
 * czpg/status.h): human text, JSON (RFC 8259) and the Prometheus text
 * exposition format 0.0.4.
 *
 * Output only.  What the report concludes is the verb's
 * (czpg_status_outcome); these are handed it, so every rendering shows the
 * same verdict and exit code.  czpg_status_print_text, _print_json and
 * _prometheus (czpg/status.h) pass czpg_status_outcome(r) to the functions
 * here.  The names (czpg_status_check_name, czpg_status_result_name) and
 * czpg_status_prom_label_value, declared in czpg/status.h, are defined with
 * these.
 */
#ifndef CZPG_STATUS_REPORT_H
#define CZPG_STATUS_REPORT_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "czpg/buf.h"
#include "czpg/result.h"
#include "czpg/status.h"

/* The human report on out, ending with "status: ... (exit N)" for outcome. */
void czpg_status_render_text(FILE *out, const struct czpg_status_report *r,
			     enum czpg_result outcome);
/* One JSON object on out, ending in a newline; "ok" and "exit_code" from outcome. */
void czpg_status_render_json(FILE *out, const struct czpg_status_report *r,
			     enum czpg_result outcome);
/*
 * Appends the Prometheus exposition of r to out (see czpg_status_prometheus);
 * czpg_tls_status_exit_code is outcome's.  0, or -1 when out overflowed.
 */
int czpg_status_render_prometheus(const struct czpg_status_report *r, enum czpg_result outcome,
				  struct czpg_wbuf *out);

/* t as "2026-02-27T20:01:02Z" (RFC 3339, UTC); the number of seconds if it cannot be. */
void czpg_status_format_time(time_t t, char *out, size_t outlen);

#endif
