/*
 * provision_internal.h - what the pieces of provision share and nobody else
 * sees: the plan object and the functions each piece gives the others.
 *
 *   provision.c         the plan object, the entry point, postgresql.conf,
 *                       pg_hba.conf and CA export planning
 *   provision_inputs.c  input validation, path resolution, permission checks,
 *                       how to reach the server
 *   provision_certs.c   the certificate decisions: CA, leaf, CA bundle
 *   provision_apply.c   writes, reload and its checks, rollback, self-verify
 *
 * What is printed lives in src/report/provision_report.c and reads only
 * p->rec.
 */
#ifndef CZPG_PROVISION_INTERNAL_H
#define CZPG_PROVISION_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "czpg/hba_plan.h"
#include "czpg/provision.h"
#include "czpg/reload.h"
#include "czpg/result.h"

struct czpg_provision_plan {
	struct czpg_provision_record rec; /* what the report reads */
	struct czpg_provision_opts o;     /* as given (strings borrowed) */

	/* resolved by provision_inputs.c */
	char *server_cert_dir, *pgdata;
	long db_uid, db_gid; /* who gets server.key */
	uid_t me_uid;        /* who owns everything else */
	gid_t me_gid;
	struct czpg_server srv;
	char pg_bin[PATH_MAX];
	char socket_dir[PATH_MAX];

	/* pg_hba.conf */
	struct czpg_hba_plan *hba;
};

/* ------------------------------------------------------------ provision.c */

/* Adds a warning to the record (at most CZPG_PROVISION_MAX_WARNINGS; more are dropped). */
void czpg_provision_warn(struct czpg_provision_plan *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "<dir>/<name>" (malloc'd; NULL when out of memory). */
char *czpg_provision_path_join(const char *dir, const char *name);
/* The directory part of path: "." without a slash, "/" for "/x" (malloc'd; NULL when out of
 * memory). */
char *czpg_provision_path_dir(const char *path);

/*
 * Adds a file of the given role to the plan with its new content (copied;
 * data may equal the current content) and reads what is there now to decide
 * the action.  Returns CZPG_RESULT_OK, or CZPG_RESULT_ERROR with err set
 * (plan full, out of memory, the path unreadable or not a regular file).
 */
enum czpg_result czpg_provision_add_file(struct czpg_provision_plan *p,
					 enum czpg_provision_role role, const char *path,
					 const void *data, size_t len, mode_t mode, long uid,
					 long gid, char *err, size_t errlen);

/* The planned file of that role, or NULL. */
struct czpg_provision_file *czpg_provision_file_of(struct czpg_provision_plan *p,
						   enum czpg_provision_role role);

/* ------------------------------------------------------------ provision_inputs.c */

/*
 * Checks every option, resolves every path (p->rec's paths, p->pgdata,
 * p->server_cert_dir, the database uid/gid), checks that each can be written
 * as it must be, and works out how to reach the server (p->srv, the verify
 * target, the reload and query descriptions).  Returns CZPG_RESULT_OK, or
 * CZPG_RESULT_BAD_INPUT with one sentence in err naming the value and what
 * to do.
 */
enum czpg_result czpg_provision_inputs(struct czpg_provision_plan *p, char *err, size_t errlen);

/* ------------------------------------------------------------ provision_certs.c */

/*
 * Decides the CA (reuse, make, or refuse), then the leaf, then what goes
 * into ca-bundle.crt, and adds the certificate files to the plan.  Returns
 * CZPG_RESULT_OK; CZPG_RESULT_BAD_INPUT when the files on disk cannot be
 * used as they are (err says: --rotate-leaf or --force); CZPG_RESULT_ERROR
 * when a key or certificate cannot be made.
 */
enum czpg_result czpg_provision_plan_certs(struct czpg_provision_plan *p, char *err, size_t errlen);

#endif
