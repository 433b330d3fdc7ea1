/*
 * probe_report.h - what `czctl postgres tls probe` prints: the human report
 * and the JSON object of one target (schema in docs/probe.md), the fleet
 * summary table and its JSON line, the progress line, and the names those
 * use.
 *
 * Output only: these read results and decide nothing.  What a result means
 * (findings, the exit result) is in czpg/probe_findings.h; a printer that
 * shows the exit code is handed the result the caller concluded.
 */
#ifndef CZPG_PROBE_REPORT_H
#define CZPG_PROBE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "czpg/probe.h"
#include "czpg/probe_findings.h"
#include "czpg/result.h"

const char *czpg_probe_severity_name(enum czpg_probe_severity s); /* "info" ... "high" */
const char *czpg_probe_status_name(enum czpg_probe_status s);     /* "probed", "closed" ... */
const char *czpg_probe_tri_name(enum czpg_probe_tri t);           /* "unknown", "no", "yes" */
/* "PostgreSQL", "PgBouncer", "not identified". */
const char *czpg_probe_server_name(enum czpg_probe_server s);
/* What an authentication request code asks for: "an MD5 password", "SASL (SCRAM)" ... */
const char *czpg_probe_auth_name(int code);

/* Appends item to the ", "-separated list in buf (cap bytes; cut when full). */
void czpg_probe_list_add(char *buf, size_t cap, const char *item);

/* The human report of one result. */
void czpg_probe_print(FILE *out, const struct czpg_probe_result *res);
/*
 * One JSON object on one line (the schema is in docs/probe.md); its
 * "exit_code" is the one for outcome (czpg_probe_outcome(res)).
 */
void czpg_probe_print_json(FILE *out, const struct czpg_probe_result *res,
			   enum czpg_result outcome);

/* One target's line of the fleet summary table, condensed from its result. */
struct czpg_probe_row {
	bool filled; /* its result has arrived */
	char target[300];
	enum czpg_probe_status status;
	enum czpg_probe_severity worst;
	char versions[40]; /* "1.3,1.2"; "off" (TLS refused), "none", "-" (not probed) */
	char top[32];      /* id of the first finding of the worst severity */
	size_t nfindings;
	char detail[120]; /* why it was not probed */
};

/* Condenses an assessed result into its summary row. */
void czpg_probe_row_fill(struct czpg_probe_row *row, const struct czpg_probe_result *res);

/*
 * The fleet summary: a table of the filled rows (in the order of the targets
 * file), then one line of counts for the n targets probed in wall_ms.
 */
void czpg_probe_print_fleet(FILE *out, const struct czpg_probe_row *rows, size_t n,
			    const struct czpg_probe_tally *tally, double wall_ms);
/* The same counts as one {"summary": ...} JSON line. */
void czpg_probe_print_fleet_json(FILE *out, const struct czpg_probe_tally *tally, size_t n,
				 double wall_ms);

/* "\rprobe: D/T targets done, R in progress", ended by a newline once done == total. */
void czpg_probe_print_progress(FILE *out, size_t done, size_t total, size_t running);

#endif
