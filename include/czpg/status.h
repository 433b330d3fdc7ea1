/*
 * status.h - `czctl postgres tls status`: a local, offline report on the
 * certificate directory that `provision` writes and on the managed pg_hba
 * block, for people, cron and monitoring.
 *
 * The report covers the CA and the server leaf (subject, SANs, serial,
 * validity, key type), every CA in the bundle, and these checks:
 *
 *   leaf_expiry        the leaf is valid now and for more than warn_days
 *   ca_expiry          the same for the CA certificate
 *   leaf_signed_by_ca  the leaf's signature is made by the current CA
 *   leaf_key_match     server.key is the private half of server.crt
 *   server_key_mode    server.key passes PostgreSQL's ssl_key_file rule for
 *                      the database user (czpg_pki_check_key_file)
 *   ca_key_private     ca.key, when present, is not readable by the
 *                      database user
 *   ca_key_match       ca.key, when present, belongs to ca.crt
 *   bundle_has_ca      ca-bundle.crt, when present, contains ca.crt
 *   hba_block          the managed pg_hba block is readable and in a known
 *                      mode (and in the expected one, when one is given)
 *
 * With the data directory, it also reports the server version its
 * PG_VERSION file names (what the server's files are, not what runs).
 *
 * Rendering: human text, JSON (RFC 8259) and the Prometheus text exposition
 * format (version 0.0.4), the last for node_exporter's textfile collector.
 */
#ifndef CZPG_STATUS_H
#define CZPG_STATUS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "czpg/result.h"
#include "czpg/buf.h"
#include "czpg/hba.h"
#include "czpg/pki.h"

/*
 * File names inside the certificate directory.  `provision` writes these;
 * status reads them.  Only ca.crt, server.crt and server.key are required.
 */
#define CZPG_CERTDIR_CA_CERT "ca.crt"
#define CZPG_CERTDIR_CA_KEY "ca.key" /* may be kept offline: optional */
#define CZPG_CERTDIR_LEAF_CERT "server.crt"
#define CZPG_CERTDIR_LEAF_KEY "server.key"
#define CZPG_CERTDIR_CA_BUNDLE "ca-bundle.crt"     /* current CA + previous in overlap */
#define CZPG_CERTDIR_CA_PREVIOUS "ca-previous.crt" /* optional */

#define CZPG_STATUS_DEFAULT_WARN_DAYS 30
#define CZPG_STATUS_MAX_WARN_DAYS 3650

/* Unset --db-uid / --db-gid. */
#define CZPG_STATUS_ID_UNSET (-1L)

struct czpg_status_opts {
	const char *cert_dir; /* required */
	const char *hba_path; /* NULL: the hba_block check is skipped */
	/* NULL: any known mode passes; else "none", "transition" or "harden" */
	const char *expect_hba_mode;
	long warn_days; /* 0..CZPG_STATUS_MAX_WARN_DAYS */
	/*
	 * The database user PostgreSQL runs as.  CZPG_STATUS_ID_UNSET: db_uid
	 * is server.key's owner and db_gid its group.
	 */
	long db_uid;
	long db_gid;
	time_t now; /* 0 = time(NULL) */
	/* The server's data directory: its PG_VERSION is the version reported; NULL = not known. */
	const char *pgdata;
};

enum czpg_status_check_id {
	CZPG_STATUS_LEAF_EXPIRY = 0,
	CZPG_STATUS_CA_EXPIRY,
	CZPG_STATUS_LEAF_SIGNED,
	CZPG_STATUS_LEAF_KEY_MATCH,
	CZPG_STATUS_SERVER_KEY_MODE,
	CZPG_STATUS_CA_KEY_PRIVATE,
	CZPG_STATUS_CA_KEY_MATCH,
	CZPG_STATUS_BUNDLE_HAS_CA,
	CZPG_STATUS_HBA_BLOCK,
	CZPG_STATUS_NCHECKS,
};

enum czpg_status_result {
	CZPG_STATUS_PASS = 0,
	CZPG_STATUS_SKIP,  /* not applicable (an optional file is absent, no --hba-path) */
	CZPG_STATUS_WARN,  /* expiry within warn_days: exit 1 */
	CZPG_STATUS_FAIL,  /* the check ran and the answer is no: exit 1 */
	CZPG_STATUS_ERROR, /* could not check: a required file is missing or unreadable */
};

struct czpg_status_check {
	enum czpg_status_result result;
	char detail[768]; /* one sentence; what to do when it is not PASS */
};

enum czpg_status_file_state {
	CZPG_STATUS_FILE_ABSENT = 0,
	CZPG_STATUS_FILE_OK,
	CZPG_STATUS_FILE_UNREADABLE, /* exists, but could not be read or parsed */
};

struct czpg_status_cert {
	enum czpg_status_file_state state;
	char error[512];   /* why, when UNREADABLE */
	char subject[512]; /* RFC 2253 one-line form, printable ASCII */
	struct czpg_cert_info info;
};

/* The report.  Read-only for callers; free with czpg_status_report_free. */
struct czpg_status_report {
	char cert_dir[PATH_MAX];
	/* Set when the directory itself cannot be used; nothing else is filled. */
	char dir_error[PATH_MAX + 128];
	time_t now;
	long warn_days;
	uid_t db_uid;
	gid_t db_gid;                          /* (gid_t)-1 when unknown */
	bool db_uid_from_key, db_gid_from_key; /* defaulted to server.key's owner */

	struct czpg_status_cert ca, leaf, previous;
	/* ca-bundle.crt: state, error, and n_bundle entries in file order */
	enum czpg_status_file_state bundle_state;
	char bundle_error[512];
	struct czpg_status_cert *bundle;
	size_t n_bundle;
	/* index into bundle of ca.crt / ca-previous.crt, or -1 */
	long bundle_current, bundle_previous;

	/*
	 * The server's major version, from PG_VERSION in opts.pgdata ("15");
	 * "" when not known, and server_version_detail says why.
	 */
	char server_version[16];
	char server_version_detail[PATH_MAX + 96];

	bool hba_checked; /* --hba-path given */
	char hba_path[PATH_MAX];
	bool hba_known; /* the file was read and parsed */
	enum czpg_hba_mode hba_mode;

	struct czpg_status_check checks[CZPG_STATUS_NCHECKS];
};

/*
 * Builds the report: reads the files, inspects, runs every check.  Reads
 * server.key and ca.key (to compare them with their certificates) and wipes
 * them; never writes anything.  Returns 0 with *out (free with
 * czpg_status_report_free) also when checks fail or the directory is
 * missing (then out->dir_error is set and the exit code is 3); -1 with err
 * set only for a bad argument or out of memory.
 */
int czpg_status_collect(const struct czpg_status_opts *opts, struct czpg_status_report **out,
			char *err, size_t errlen);
void czpg_status_report_free(struct czpg_status_report *r); /* NULL-safe */

/*
 * What the report concludes: CZPG_RESULT_OK when every check passed
 * or was skipped; CZPG_RESULT_FAIL when any check is WARN or FAIL (this wins
 * over ERROR: a definite problem is the more useful answer); otherwise
 * CZPG_RESULT_ERROR when anything could not be read.
 */
enum czpg_result czpg_status_outcome(const struct czpg_status_report *r);

/* "leaf_expiry", ... (stable, used in JSON and Prometheus output). */
const char *czpg_status_check_name(enum czpg_status_check_id id);
/* "pass", "skip", "warn", "fail", "error". */
const char *czpg_status_result_name(enum czpg_status_result res);

/* Human report on out. */
void czpg_status_print_text(FILE *out, const struct czpg_status_report *r);
/* One JSON object on out, ending in a newline. */
void czpg_status_print_json(FILE *out, const struct czpg_status_report *r);

/*
 * Appends the report in the Prometheus text exposition format to out, with
 * # HELP and # TYPE for every family.  Written also for a report with
 * dir_error (then only the status families), so a textfile collector never
 * keeps serving stale good numbers.  Returns 0, or -1 when out overflowed.
 */
int czpg_status_prometheus(const struct czpg_status_report *r, struct czpg_wbuf *out);

/*
 * Appends s as a Prometheus label value (without the quotes): backslash,
 * double quote and line feed escaped as \\, \" and \n.  0 or -1 (overflow).
 */
int czpg_status_prom_label_value(struct czpg_wbuf *out, const char *s);

#endif
