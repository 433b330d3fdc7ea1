/*
 * verify.h - the "prove TLS" gate: a verify-full TLS session authenticated
 * with SCRAM, confirmed from both ends (what the client negotiated, and the
 * server's own pg_stat_ssl row for that very backend), and optionally proof
 * that the server refuses plaintext.
 *
 * Used by `czctl postgres tls verify` and by provision's self-verify step.
 */
#ifndef CZPG_VERIFY_H
#define CZPG_VERIFY_H

#include <stdbool.h>
#include <stdio.h>

#include "czpg/conn.h"
#include "czpg/certinfo.h"
#include "czpg/tlsio.h"

enum czpg_verify_client {
	CZPG_VERIFY_NATIVE = 0, /* czpg's own wire client over io_uring */
	CZPG_VERIFY_LIBPQ,      /* libpq, sslmode=verify-full: the cross-check */
};

struct czpg_verify_options {
	const char *host;
	unsigned port;
	const char *user;
	const char *dbname;   /* NULL = user */
	const char *ca_file;  /* required */
	const char *password; /* borrowed; the caller wipes it */
	enum czpg_cb_policy channel_binding;
	bool expect_plaintext_refused;
	int min_tls;         /* TLS1_2_VERSION or TLS1_3_VERSION */
	unsigned timeout_ms; /* per phase */
	enum czpg_verify_client client;
};

struct czpg_verify_result {
	bool pass;
	char failure[1280]; /* the reason, one sentence, when !pass */
	char hint[256];     /* what to do about it ("" if nothing specific) */

	/* What the client negotiated. */
	bool tls_done;
	char client_version[32];
	char client_cipher[64];
	bool authenticated;   /* the server accepted the login (startup completed) */
	char auth_method[48]; /* SCRAM-SHA-256 / SCRAM-SHA-256-PLUS / trust */
	char offered[160];    /* SASL mechanisms the server offered */
	bool plus_offered;
	bool cert_known;
	struct czpg_cert_info cert;

	/* What the server says about this very session. */
	bool server_row;
	bool server_ssl;
	char server_version[32];
	char server_cipher[64];
	int server_bits;
	unsigned backend_pid;
	char server_version_str[64]; /* server_version parameter */

	/* Plaintext check. */
	bool plaintext_checked;
	bool plaintext_refused;
	char plaintext_detail[1024];

	double elapsed_ms;
};

/*
 * Runs the proof.  Always fills res (res->pass tells the verdict).  Returns
 * 0 when the check ran (pass or fail), -1 when it could not run at all
 * (bad options, no io_uring); res->failure says why either way.
 */
int czpg_verify_run(const struct czpg_verify_options *opt, struct czpg_verify_result *res);

/* Prints the human report (PASS/FAIL lines and detail). */
void czpg_verify_print(FILE *out, const struct czpg_verify_options *opt,
		       const struct czpg_verify_result *res);
/* Prints the JSON report (one object). */
void czpg_verify_print_json(FILE *out, const struct czpg_verify_options *opt,
			    const struct czpg_verify_result *res);

#endif
