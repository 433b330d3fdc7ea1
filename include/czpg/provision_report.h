/*
 * provision_report.h - what `czctl postgres tls provision` prints: the dry
 * run, the per-step "[PASS]" / "[FAIL]" / "[SKIP]" lines and the summary of
 * an apply, and the JSON object.
 *
 * Every printer reads a struct czpg_provision_record (czpg/provision.h) and
 * nothing else; an out of NULL prints nothing.
 */
#ifndef CZPG_PROVISION_REPORT_H
#define CZPG_PROVISION_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "czpg/provision.h"

/*
 * The dry run: every file with path, mode, owner and full new content
 * (private keys as "<new private key, not shown>") or a unified diff against
 * the current file, the pg_hba explanation, the reload command, the checks
 * and the verification that --apply would run.
 */
void czpg_provision_print_plan(const struct czpg_provision_record *r, FILE *out);

/* "[PASS] <step>: <detail>" for a step that ran; nothing for one that did not. */
void czpg_provision_print_step(const struct czpg_provision_record *r, enum czpg_provision_step s,
			       FILE *out);

/*
 * "[INFO]" lines for what happened before the plan: temporary files an
 * interrupted run left, the interrupted run finished or rolled back, and the
 * plan's notes (symbolic links written through).
 */
void czpg_provision_print_notes(const struct czpg_provision_record *r, FILE *out);

/*
 * The process exit code of the record (docs/exit-codes.md): 0 for a plan
 * (dry run); after an apply 0/1/2/3 from its result, or 128 + the signal
 * (130 SIGINT, 143 SIGTERM, 129 SIGHUP) when one interrupted it and the box
 * was brought back whole first.
 */
int czpg_provision_report_exit_code(const struct czpg_provision_record *r);

/* "[INFO] rollback: <note>", or [FAIL] when a file could not be restored (incomplete). */
void czpg_provision_print_rollback(const struct czpg_provision_record *r, bool incomplete,
				   FILE *out);

/* The warnings, then "summary: PASS, ..." or "summary: FAIL (exit N)...". */
void czpg_provision_print_summary(const struct czpg_provision_record *r, FILE *out);

/* The plan (dry run) or the result (after apply) as one JSON object. */
void czpg_provision_print_json(const struct czpg_provision_record *r, FILE *out);

#endif
