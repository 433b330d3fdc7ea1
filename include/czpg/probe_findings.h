/*
 * probe_findings.h - what a probe's result means: the findings and their
 * severities, the weak-suite rule, and the result a probe (or a fleet of
 * them) concludes.
 *
 * Pure functions over struct czpg_probe_result (czpg/probe.h): no I/O and no
 * clock (a certificate's days_left is in the result), so every rule is
 * unit-testable with a result built by hand.
 */
#ifndef CZPG_PROBE_FINDINGS_H
#define CZPG_PROBE_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "czpg/probe.h"
#include "czpg/result.h"

/*
 * Derives res->findings, res->worst and each suite's weak flag from the rest
 * of res (replacing any findings there).  A target that was not probed gets
 * no findings.
 */
void czpg_probe_assess(struct czpg_probe_result *res);

/*
 * True when the suite (OpenSSL name) is weak: not AEAD, or no forward
 * secrecy (static RSA key exchange).  TLS 1.3 suites are never weak.  why
 * gets "no forward secrecy, not AEAD" etc. (may be NULL).
 */
bool czpg_probe_suite_is_weak(const char *suite, char *why, size_t whylen);

/* The finding with identifier id in res ("pgbouncer", "tls12-accepted" ...), or NULL. */
const struct czpg_probe_finding *czpg_probe_finding(const struct czpg_probe_result *res,
						    const char *id);

/* What one result concluded: ERROR not probed, FAIL a medium/high finding, else OK. */
enum czpg_result czpg_probe_outcome(const struct czpg_probe_result *res);

/* A fleet's results counted as they come (zero it to start). */
struct czpg_probe_tally {
	size_t probed;      /* status CZPG_PROBE_PROBED */
	size_t medium_high; /* probed, worst finding medium or high */
	size_t by_status[CZPG_PROBE_ERROR + 1];
	size_t by_worst[CZPG_SEV_HIGH + 1]; /* probed targets only */
};

/* Counts one assessed result. */
void czpg_probe_tally_add(struct czpg_probe_tally *t, const struct czpg_probe_result *res);

/*
 * What a fleet of n targets concluded: FAIL when any target has a medium or
 * high finding, else ERROR when some target could not be probed, else OK.
 */
enum czpg_result czpg_probe_tally_outcome(const struct czpg_probe_tally *t, size_t n);

#endif
