/*
 * provision_inputs.c - provision's inputs: every option checked, every path
 * resolved (defaults derived from --pgdata or --hba-path), the permissions
 * the run will need checked up front, and how the server is reached (local
 * data directory or container, socket, port, verify target).
 *
 * All of it before anything is generated or written: a bad input ends the
 * run with one sentence and nothing changed (CZPG_RESULT_BAD_INPUT).
 */
#include "czpg/provision.h"
#include "czpg/errf.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "czpg/fsutil.h"
#include "czpg/hba_values.h"
#include "czpg/pgconf.h"
#include "czpg/pki.h"
#include "czpg/reload.h"
#include "provision_internal.h"

/* czpg_errf, then CZPG_RESULT_BAD_INPUT: for the one-line refusals below. */
static enum czpg_result bad_input(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum czpg_result bad_input(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	czpg_verrf(err, errlen, fmt, ap);
	va_end(ap);
	return CZPG_RESULT_BAD_INPUT;
}

/* ------------------------------------------------------------ validation */

static bool valid_container_name(const char *s)
{
	size_t i;

	if (s[0] == '\0' || strlen(s) > 128 ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 1; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Each option on its own and against the others; touches nothing on disk. */
static enum czpg_result validate_inputs(const struct czpg_provision_opts *o, char *err,
					size_t errlen)
{
	struct czpg_hba_cidr cidr;
	char e[512];
	size_t i, j;

	if (o->ip == NULL)
		return bad_input(err, errlen,
				 "--ip is required: the address clients connect to (it "
				 "goes into the certificate)");
	if (czpg_pki_valid_ip(o->ip, e, sizeof(e)) < 0)
		return bad_input(err, errlen, "--ip '%s': %s", o->ip, e);
	if (o->dns == NULL)
		return bad_input(err, errlen,
				 "--dns is required: the DNS name clients connect to (it "
				 "goes into the certificate)");
	if (czpg_pki_valid_dns(o->dns, e, sizeof(e)) < 0)
		return bad_input(err, errlen, "--dns '%s': %s", o->dns, e);
	if (o->allow_cidr == NULL)
		return bad_input(err, errlen,
				 "--allow-cidr is required: the application box's "
				 "network, e.g. 10.20.1.2/32");
	if (czpg_hba_cidr_parse(o->allow_cidr, &cidr, e, sizeof(e)) < 0)
		return bad_input(err, errlen, "--allow-cidr '%s': %s", o->allow_cidr, e);
	if (o->n_roles == 0)
		return bad_input(err, errlen,
				 "--role is required (once per role the application "
				 "logs in as)");
	if (o->n_roles > CZPG_PROVISION_MAX_ROLES)
		return bad_input(err, errlen, "at most %d --role values", CZPG_PROVISION_MAX_ROLES);
	for (i = 0; i < o->n_roles; i++) {
		if (czpg_hba_name_check(o->roles[i], e, sizeof(e)) < 0)
			return bad_input(err, errlen, "--role '%s': %s", o->roles[i], e);
		for (j = 0; j < i; j++)
			if (strcmp(o->roles[i], o->roles[j]) == 0)
				return bad_input(err, errlen, "--role '%s' is given twice",
						 o->roles[i]);
	}
	if (o->mode != CZPG_HBA_MODE_TRANSITION && o->mode != CZPG_HBA_MODE_HARDEN)
		return bad_input(err, errlen, "--mode must be transition or harden");
	if (o->force && o->rotate_leaf)
		return bad_input(err, errlen,
				 "--force and --rotate-leaf exclude each other: --force "
				 "makes a new CA and leaf, --rotate-leaf a new leaf only");
	if (o->container != NULL && !valid_container_name(o->container))
		return bad_input(err, errlen, "--container '%s' is not a container name or id",
				 o->container);
	if (o->pgdata == NULL && o->container == NULL)
		return bad_input(err, errlen,
				 "say where PostgreSQL runs: --pgdata DIR (a server on "
				 "this box) or --container NAME");
	if (o->pgdata != NULL && o->container != NULL)
		return bad_input(err, errlen,
				 "--pgdata and --container exclude each other: give "
				 "--pgdata for a server on this box, --container for one "
				 "in a container");
	if (o->cert_dir == NULL || o->cert_dir[0] == '\0')
		return bad_input(err, errlen,
				 "--cert-dir is required: where the certificates and "
				 "keys are written, e.g. /etc/cz-tls");
	if (o->server_cert_dir != NULL && o->server_cert_dir[0] != '/')
		return bad_input(err, errlen, "--server-cert-dir '%s' must be an absolute path",
				 o->server_cert_dir);
	if (o->server_root != NULL && o->server_root[0] == '\0')
		return bad_input(err, errlen, "--server-root must name a directory");
	if (o->db_uid < -1 || o->db_uid > 0x7fffffffL || o->db_gid < -1 || o->db_gid > 0x7fffffffL)
		return bad_input(err, errlen, "--db-uid/--db-gid out of range");
	if (o->verify_user != NULL && czpg_hba_name_check(o->verify_user, e, sizeof(e)) < 0)
		return bad_input(err, errlen, "--verify-user '%s': %s", o->verify_user, e);
	return CZPG_RESULT_OK;
}

/* ------------------------------------------------------------ paths */

/* An absolute, lexically normalised copy of path (relative to the cwd). */
static char *abs_path(const char *path)
{
	char cwd[PATH_MAX], *tmp = NULL, *out = NULL;

	if (path == NULL || path[0] == '\0')
		return NULL;
	if (path[0] == '/') {
		czpg_pgconf_normalize_path(path, &out);
		return out;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL || asprintf(&tmp, "%s/%s", cwd, path) < 0)
		return NULL;
	czpg_pgconf_normalize_path(tmp, &out);
	free(tmp);
	return out;
}

/*
 * The server's view: its root on this host (--server-root) and the cert dir
 * as it sees it (--server-cert-dir, else the cert dir with the root taken
 * off, else the cert dir itself).
 */
static enum czpg_result server_view(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	struct czpg_provision_record *r = &p->rec;
	char *root = NULL;
	size_t rl;
	enum czpg_result rc = CZPG_RESULT_BAD_INPUT;

	if (o->server_root != NULL) {
		struct czpg_fs_info info;

		root = abs_path(o->server_root);
		if (root == NULL || czpg_fs_file_info(root, &info, NULL, 0) < 0 || !info.is_dir) {
			czpg_errf(err, errlen, "--server-root '%s' is not a directory",
				  o->server_root);
			goto out;
		}
		snprintf(p->server_root, sizeof(p->server_root), "%s",
			 strcmp(root, "/") == 0 ? "" : root);
		r->server_root = p->server_root[0] != '\0' ? p->server_root : NULL;
	}
	if (o->server_cert_dir != NULL) {
		r->server_cert_dir = abs_path(o->server_cert_dir);
	} else if (r->server_root != NULL) {
		rl = strlen(p->server_root);
		if (strncmp(r->cert_dir, p->server_root, rl) != 0 || r->cert_dir[rl] != '/') {
			czpg_errf(
			    err, errlen,
			    "--cert-dir %s is not under --server-root %s, so the server cannot "
			    "see it there: pass --server-cert-dir (where the server sees it)",
			    r->cert_dir, p->server_root);
			goto out;
		}
		r->server_cert_dir = strdup(r->cert_dir + rl);
	} else {
		r->server_cert_dir = strdup(r->cert_dir);
	}
	if (r->server_cert_dir == NULL) {
		czpg_errf(err, errlen, "out of memory");
		goto out;
	}
	rc = CZPG_RESULT_OK;
out:
	free(root);
	return rc;
}

/* Every path the plan uses, absolute, with the defaults filled in. */
static enum czpg_result resolve_paths(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	struct czpg_provision_record *r = &p->rec;
	struct czpg_fs_info info;
	char e[512], *d = NULL;
	enum czpg_result rc = CZPG_RESULT_BAD_INPUT;

	p->me_uid = geteuid();
	p->me_gid = getegid();
	if (o->pgdata != NULL) {
		p->pgdata = abs_path(o->pgdata);
		if (p->pgdata == NULL || czpg_fs_file_info(p->pgdata, &info, e, sizeof(e)) < 0 ||
		    !info.exists || !info.is_dir) {
			czpg_errf(err, errlen, "--pgdata '%s' is not a directory", o->pgdata);
			goto out;
		}
		p->db_uid = o->db_uid >= 0 ? o->db_uid : (long)info.uid;
		p->db_gid = o->db_gid >= 0 ? o->db_gid : (long)info.gid;
		p->srv.owner_uid = info.uid;
		p->srv.owner_gid = info.gid;
	} else {
		p->db_uid = o->db_uid >= 0 ? o->db_uid : CZPG_PROVISION_CONTAINER_UID;
		p->db_gid = o->db_gid >= 0   ? o->db_gid
			    : o->db_uid >= 0 ? o->db_uid
					     : CZPG_PROVISION_CONTAINER_UID;
	}
	if (o->hba_path != NULL)
		r->hba_path = abs_path(o->hba_path);
	else if (p->pgdata != NULL)
		r->hba_path = czpg_provision_path_join(p->pgdata, "pg_hba.conf");
	else {
		czpg_errf(err, errlen,
			  "--hba-path is required with --container: the pg_hba.conf the "
			  "container's server reads, as a path on this box");
		goto out;
	}
	if (o->postgresql_conf != NULL)
		r->pgconf_path = abs_path(o->postgresql_conf);
	else if (p->pgdata != NULL)
		r->pgconf_path = czpg_provision_path_join(p->pgdata, "postgresql.conf");
	else if (r->hba_path != NULL && (d = czpg_provision_path_dir(r->hba_path)) != NULL)
		r->pgconf_path = czpg_provision_path_join(d, "postgresql.conf");
	if (o->conf_dir != NULL) {
		r->conf_dir = abs_path(o->conf_dir);
	} else if (r->pgconf_path != NULL) {
		free(d);
		d = czpg_provision_path_dir(r->pgconf_path);
		r->conf_dir = d != NULL ? czpg_provision_path_join(d, "conf.d") : NULL;
	}
	r->cert_dir = abs_path(o->cert_dir);
	if (o->export_ca != NULL)
		r->export_ca = abs_path(o->export_ca);
	if (r->cert_dir != NULL && (rc = server_view(p, err, errlen)) != CZPG_RESULT_OK)
		goto out;
	rc = CZPG_RESULT_BAD_INPUT;
	if (r->hba_path == NULL || r->pgconf_path == NULL || r->conf_dir == NULL ||
	    r->cert_dir == NULL || r->server_cert_dir == NULL ||
	    (o->export_ca != NULL && r->export_ca == NULL)) {
		czpg_errf(err, errlen, "out of memory (or an empty path)");
		goto out;
	}
	r->conf_path = czpg_provision_path_join(r->conf_dir, CZPG_PGCONF_TLS_FILE);
	r->bundle_path = czpg_provision_path_join(r->cert_dir, "ca-bundle.crt");
	if (r->conf_path == NULL || r->bundle_path == NULL) {
		czpg_errf(err, errlen, "out of memory");
		goto out;
	}
	rc = CZPG_RESULT_OK;
out:
	free(d);
	return rc;
}

/* ------------------------------------------------------------ permissions */

/* Can uid/gid enter every directory from dir up to / (ancestors) or dir alone? */
static enum czpg_result check_reachable(const char *dir, bool ancestors, long uid, long gid,
					char *err, size_t errlen)
{
	char *cur = strdup(dir), *next;
	struct stat st;
	enum czpg_result rc = CZPG_RESULT_OK;

	while (cur != NULL) {
		if (stat(cur, &st) == 0) {
			mode_t need = (long)st.st_uid == uid   ? S_IXUSR
				      : (long)st.st_gid == gid ? S_IXGRP
							       : S_IXOTH;

			if (uid != 0 && (st.st_mode & need) == 0) {
				czpg_errf(
				    err, errlen,
				    "the database user (uid %ld) cannot enter %s (mode %04o, owner "
				    "%ld:%ld), so PostgreSQL could not read its key there: make it "
				    "searchable (chmod o+x %s) or choose another --cert-dir",
				    uid, cur, (unsigned)(st.st_mode & 07777), (long)st.st_uid,
				    (long)st.st_gid, cur);
				rc = CZPG_RESULT_BAD_INPUT;
				break;
			}
			if (!ancestors)
				break;
		}
		if (strcmp(cur, "/") == 0)
			break;
		next = czpg_provision_path_dir(cur);
		free(cur);
		cur = next;
	}
	free(cur);
	return rc;
}

static bool in_my_groups(gid_t g)
{
	gid_t groups[256];
	int n, i;

	if (g == getegid())
		return true;
	n = getgroups(256, groups);
	for (i = 0; i < n; i++)
		if (groups[i] == g)
			return true;
	return false;
}

/* Could this process give a file to uid/gid? */
static bool may_chown(long uid, long gid)
{
	if (geteuid() == 0)
		return true;
	return (uid == -1 || (uid_t)uid == geteuid()) && (gid == -1 || in_my_groups((gid_t)gid));
}

static enum czpg_result check_dir_writable(const char *flag, const char *dir, char *err,
					   size_t errlen)
{
	char e[600];

	if (czpg_fs_check_writable_dir(dir, e, sizeof(e)) < 0)
		return bad_input(err, errlen, "%s: %s", flag, e);
	return CZPG_RESULT_OK;
}

/* Every file and directory the apply will write, and the owners it will give. */
static enum czpg_result check_paths(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	const struct czpg_provision_record *r = &p->rec;
	struct czpg_fs_info info;
	char e[600], *d = NULL;
	enum czpg_result rc = CZPG_RESULT_BAD_INPUT;

	if (czpg_fs_file_info(r->hba_path, &info, e, sizeof(e)) < 0 || !info.exists ||
	    !info.is_regular) {
		czpg_errf(err, errlen, "--hba-path '%s' is not an existing file%s", r->hba_path,
			  o->hba_path == NULL ? " (default <pgdata>/pg_hba.conf; pass --hba-path)"
					      : "");
		goto out;
	}
	d = czpg_provision_path_dir(r->hba_path);
	if (d == NULL || check_dir_writable("--hba-path", d, err, errlen) != CZPG_RESULT_OK)
		goto out;
	if (!may_chown((long)info.uid, (long)info.gid)) {
		czpg_errf(
		    err, errlen,
		    "not permitted to rewrite %s keeping its owner uid %ld gid %ld: run as root",
		    r->hba_path, (long)info.uid, (long)info.gid);
		goto out;
	}
	if (check_dir_writable("--conf-dir", r->conf_dir, err, errlen) != CZPG_RESULT_OK ||
	    check_dir_writable("--cert-dir", r->cert_dir, err, errlen) != CZPG_RESULT_OK)
		goto out;
	if (o->container == NULL || o->server_cert_dir == NULL) {
		if (check_reachable(r->cert_dir, o->container == NULL, p->db_uid, p->db_gid, err,
				    errlen) != CZPG_RESULT_OK)
			goto out;
	}
	if (!may_chown(p->db_uid, p->db_gid)) {
		czpg_errf(err, errlen,
			  "not permitted to give server.key to the database user (uid %ld gid "
			  "%ld): chown needs root; run as root, or pass --db-uid/--db-gid",
			  p->db_uid, p->db_gid);
		goto out;
	}
	if (r->export_ca != NULL) {
		if (czpg_fs_file_info(r->export_ca, &info, e, sizeof(e)) == 0 && info.exists &&
		    !info.is_regular) {
			czpg_errf(err, errlen, "--export-ca '%s' exists and is not a regular file",
				  r->export_ca);
			goto out;
		}
		free(d);
		d = czpg_provision_path_dir(r->export_ca);
		if (d == NULL ||
		    check_dir_writable("--export-ca", d, err, errlen) != CZPG_RESULT_OK)
			goto out;
	}
	/*
	 * The server runs as the data directory's owner, and refuses a key that
	 * user cannot read: catch it here, not after the commit point.
	 */
	if (o->pgdata != NULL && o->db_uid >= 0 && o->db_uid != (long)p->srv.owner_uid) {
		czpg_errf(
		    err, errlen,
		    "--db-uid %ld: the server runs as uid %ld (the owner of --pgdata %s), and "
		    "PostgreSQL refuses a server.key of mode 0600 owned by another user: "
		    "leave --db-uid out, or give %ld",
		    o->db_uid, (long)p->srv.owner_uid, p->pgdata, (long)p->srv.owner_uid);
		goto out;
	}
	if (o->apply && o->pgdata != NULL && geteuid() != 0 && geteuid() != p->srv.owner_uid) {
		czpg_errf(err, errlen,
			  "reloading the server needs root or the data directory's owner (uid "
			  "%ld); this is uid %ld",
			  (long)p->srv.owner_uid, (long)geteuid());
		goto out;
	}
	rc = CZPG_RESULT_OK;
out:
	free(d);
	return rc;
}

/* ------------------------------------------------------------ the server */

/* Does dir's pg_ctl run on this host? */
static bool tools_run(const char *dir)
{
	char v[64];

	return czpg_reload_tool_runs(dir, "pg_ctl", v, sizeof(v), NULL, 0) == 0;
}

/*
 * Client tools this host can run, into out: pg_ctl's reload only signals the
 * postmaster, and psql speaks to any server version, so the host's own
 * PostgreSQL client tools work with a server of another version.  false when
 * there are none.
 */
static bool host_tools(const char *pgdata, char *out, size_t outlen)
{
	char cand[PATH_MAX];
	int v;

	if (czpg_reload_find_pg_bin(pgdata, NULL, cand, sizeof(cand), NULL, 0) == 0 &&
	    tools_run(cand)) {
		snprintf(out, outlen, "%s", cand);
		return true;
	}
	for (v = 30; v >= 9; v--) {
		snprintf(cand, sizeof(cand), "/usr/lib/postgresql/%d/bin", v);
		if (tools_run(cand)) {
			snprintf(out, outlen, "%s", cand);
			return true;
		}
	}
	return false;
}

/*
 * A path the server names, as this host sees it: under the server's root,
 * every symbolic link resolved inside that root (an absolute link target
 * there, such as a chroot's /var/run -> /run, means the root's /run, not
 * this host's).  Without a root the path itself.
 */
static void host_view(const char *root, const char *server_path, char *out, size_t outlen)
{
	char cur[PATH_MAX] = "", rest[PATH_MAX], link[PATH_MAX], probe[PATH_MAX * 2];
	int hops = 0;

	if (root == NULL || root[0] == '\0' || server_path[0] != '/') {
		snprintf(out, outlen, "%s", server_path);
		return;
	}
	snprintf(rest, sizeof(rest), "%s", server_path);
	while (rest[0] != '\0') {
		char *s = rest, comp[NAME_MAX + 1];
		size_t k;
		struct stat st;
		ssize_t ln;

		while (*s == '/')
			s++;
		k = strcspn(s, "/");
		if (k == 0)
			break;
		snprintf(comp, sizeof(comp), "%.*s", (int)k, s);
		memmove(rest, s + k, strlen(s + k) + 1);
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(cur, '/');

			if (slash != NULL)
				*slash = '\0';
			continue;
		}
		snprintf(cur + strlen(cur), sizeof(cur) - strlen(cur), "/%s", comp);
		snprintf(probe, sizeof(probe), "%s%s", root, cur);
		if (lstat(probe, &st) < 0 || !S_ISLNK(st.st_mode) || ++hops > 40 ||
		    (ln = readlink(probe, link, sizeof(link) - 1)) <= 0)
			continue;
		link[ln] = '\0';
		/* Splice the link's target in front of what is left. */
		{
			char tmp[PATH_MAX * 2 + 2];
			char *slash = strrchr(cur, '/');
			size_t tl;

			if (slash != NULL)
				*slash = '\0';
			if (link[0] == '/')
				cur[0] = '\0';
			tl = (size_t)snprintf(tmp, sizeof(tmp), "%s/%s", link, rest);
			if (tl >= sizeof(rest))
				break; /* too long to be a real path: stop resolving */
			memcpy(rest, tmp, tl + 1);
		}
	}
	snprintf(out, outlen, "%s%s", root, cur[0] != '\0' ? cur : "/");
}

/* Local server: its pg_ctl/psql, socket directory and port (postgresql[.auto].conf). */
static enum czpg_result plan_local_server(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	struct czpg_provision_record *r = &p->rec;
	uint8_t *conf = NULL, *autoconf = NULL;
	size_t clen = 0, alen = 0;
	char *autopath = czpg_provision_path_join(p->pgdata, "postgresql.auto.conf"), e[600];
	char sock[PATH_MAX], v[64], host[PATH_MAX];
	unsigned conf_port = 0;
	enum czpg_result rc = CZPG_RESULT_BAD_INPUT;

	p->srv.kind = CZPG_SERVER_LOCAL;
	p->srv.pgdata = p->pgdata;
	if (czpg_reload_find_pg_bin(p->pgdata, o->pg_bin, p->pg_bin, sizeof(p->pg_bin), e,
				    sizeof(e)) == 0) {
		p->srv.pg_bin = p->pg_bin;
		/* The server's own binaries may need another C library than this host has. */
		if (czpg_reload_tool_runs(p->pg_bin, "pg_ctl", v, sizeof(v), e, sizeof(e)) < 0) {
			if (host_tools(p->pgdata, host, sizeof(host)) &&
			    strcmp(host, p->pg_bin) != 0) {
				czpg_provision_warn(
				    p,
				    "%s%s: using this host's client tools in %s instead (their "
				    "pg_ctl "
				    "reload only signals the postmaster, and psql talks to any "
				    "server version)",
				    o->pg_bin != NULL ? "--pg-bin: " : "", e, host);
				snprintf(p->pg_bin, sizeof(p->pg_bin), "%s", host);
			} else {
				czpg_provision_warn(p,
						    "%s%s, and this host has no PostgreSQL client "
						    "tools that run: the reload will signal the "
						    "postmaster directly, and the checks need psql",
						    o->pg_bin != NULL ? "--pg-bin: " : "", e);
				p->srv.pg_bin = NULL;
			}
		}
	} else if (o->pg_bin != NULL) {
		czpg_errf(err, errlen, "%s", e);
		goto out;
	} else if (host_tools(p->pgdata, host, sizeof(host))) {
		/* None of the server's version here (it runs in a container or chroot): ours do. */
		czpg_provision_note(
		    p,
		    "no pg_ctl of the server's own version on this host: using the "
		    "client tools in %s (pg_ctl reload only signals the postmaster, "
		    "and psql talks to any server version)",
		    host);
		snprintf(p->pg_bin, sizeof(p->pg_bin), "%s", host);
		p->srv.pg_bin = p->pg_bin;
	} else {
		czpg_provision_warn(p, "%s; the reload will signal the postmaster directly", e);
	}
	snprintf(sock, sizeof(sock), "/var/run/postgresql");
	czpg_fs_read_file(r->pgconf_path, CZPG_PGCONF_MAX_BYTES, &conf, &clen, NULL, 0);
	if (autopath != NULL)
		czpg_fs_read_file(autopath, CZPG_PGCONF_MAX_BYTES, &autoconf, &alen, NULL, 0);
	/*
	 * A file PostgreSQL refuses is bad input here, before the server is
	 * asked anything.  postgresql.auto.conf is read last, so it wins.
	 */
	if (czpg_reload_conf_socket((const char *)conf, clen, NULL, 0, sock, sizeof(sock),
				    &conf_port, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s: %s", r->pgconf_path,
			  strncmp(e, "postgresql.conf: ", 17) == 0 ? e + 17 : e);
		goto out;
	}
	if (czpg_reload_conf_socket(NULL, 0, (const char *)autoconf, alen, sock, sizeof(sock),
				    &conf_port, e, sizeof(e)) < 0) {
		czpg_errf(err, errlen, "%s: %s", autopath,
			  strncmp(e, "postgresql.auto.conf: ", 22) == 0 ? e + 22 : e);
		goto out;
	}
	/* The configuration names the server's socket directory; find it as this host sees it. */
	if (o->socket_dir != NULL)
		snprintf(p->socket_dir, sizeof(p->socket_dir), "%s", o->socket_dir);
	else
		host_view(r->server_root, sock, p->socket_dir, sizeof(p->socket_dir));
	p->srv.socket_dir = p->socket_dir;
	r->verify_port = o->verify_port != 0 ? o->verify_port : conf_port != 0 ? conf_port : 5432;
	p->srv.port = conf_port != 0 ? conf_port : r->verify_port;
	rc = CZPG_RESULT_OK;
out:
	free(conf);
	free(autoconf);
	free(autopath);
	return rc;
}

/* PG_VERSION of a data directory: its major version, or 0. */
static unsigned read_pg_version(const char *dir, char *from, size_t fromlen)
{
	char *path = dir != NULL ? czpg_provision_path_join(dir, "PG_VERSION") : NULL;
	uint8_t *d = NULL;
	size_t n = 0;
	unsigned long v = 0;
	char *end = NULL;

	if (path != NULL && czpg_fs_read_file(path, 64, &d, &n, NULL, 0) == 0) {
		v = strtoul((const char *)d, &end, 10);
		if (end == (char *)d || (*end != '\n' && *end != '\0' && *end != '.') || v < 7 ||
		    v > 999)
			v = 0;
		else
			snprintf(from, fromlen, "%s", path);
	}
	free(d);
	free(path);
	return (unsigned)v;
}

enum czpg_result czpg_provision_server_version(struct czpg_provision_plan *p, char *err,
					       size_t errlen)
{
	struct czpg_provision_record *r = &p->rec;
	char e[1200], *dir = NULL;
	unsigned num = 0;

	if (p->o.apply) {
		if (czpg_reload_server_version(&p->srv, &num, p->before, sizeof(p->before), e,
					       sizeof(e)) < 0) {
			bool no_socket = p->srv.kind == CZPG_SERVER_LOCAL &&
					 strstr(e, ".s.PGSQL.") != NULL &&
					 (strstr(e, "No such file") != NULL ||
					  strstr(e, "Connection refused") != NULL);

			czpg_errf(err, errlen, "%s%s%s%s; nothing was written", e,
				  no_socket ? "; the server's socket is not in " : "",
				  no_socket ? p->socket_dir : "",
				  no_socket ? ": pass --socket-dir (the directory of "
					      "unix_socket_directories as this host sees it"
					      "; --server-root when the server runs in a chroot)"
					    : "");
			return CZPG_RESULT_ERROR;
		}
		r->server_major = num / 10000;
		snprintf(r->server_version_from, sizeof(r->server_version_from),
			 "the server's server_version_num %u", num);
	} else {
		r->server_major = read_pg_version(p->pgdata, r->server_version_from,
						  sizeof(r->server_version_from));
		if (r->server_major == 0 && (dir = czpg_provision_path_dir(r->pgconf_path)) != NULL)
			r->server_major = read_pg_version(dir, r->server_version_from,
							  sizeof(r->server_version_from));
		free(dir);
		if (r->server_major == 0)
			czpg_provision_warn(
			    p, "the server's version is not known without asking it (no PG_VERSION "
			       "found): this dry run shows the settings of PostgreSQL 17 and "
			       "earlier; --apply asks the server first");
	}
	if (r->server_major != 0 && r->server_major < 12) {
		czpg_errf(err, errlen,
			  "the server is PostgreSQL %u (%s); cz-tls.conf needs 12 or later "
			  "(ssl_min_protocol_version)",
			  r->server_major, r->server_version_from);
		return CZPG_RESULT_BAD_INPUT;
	}
	return CZPG_RESULT_OK;
}

/* How to reach the server: reload, queries, and the self-verify target. */
static enum czpg_result plan_server(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	const struct czpg_provision_opts *o = &p->o;
	struct czpg_provision_record *r = &p->rec;
	char e[600];
	enum czpg_result rc;

	p->srv.admin_user = o->admin_user != NULL ? o->admin_user : "postgres";
	p->srv.timeout_ms = 30000;
	if (czpg_hba_name_check(p->srv.admin_user, e, sizeof(e)) < 0)
		return bad_input(err, errlen, "--admin-user '%s': %s", p->srv.admin_user, e);
	if (o->container != NULL) {
		p->srv.kind = CZPG_SERVER_CONTAINER;
		p->srv.docker = o->docker != NULL ? o->docker : "docker";
		p->srv.container = o->container;
		r->verify_port = o->verify_port != 0 ? o->verify_port : 5432;
		p->srv.port = r->verify_port;
	} else if ((rc = plan_local_server(p, err, errlen)) != CZPG_RESULT_OK) {
		return rc;
	}
	r->verify_host = o->verify_host != NULL ? o->verify_host : o->ip;
	r->verify_user = o->verify_user != NULL ? o->verify_user : o->roles[0];
	r->verify_dbname = o->verify_dbname != NULL ? o->verify_dbname : "postgres";
	czpg_reload_describe(&p->srv, r->reload_desc, sizeof(r->reload_desc));
	czpg_reload_describe_query(&p->srv, r->query_desc, sizeof(r->query_desc));
	return CZPG_RESULT_OK;
}

enum czpg_result czpg_provision_inputs(struct czpg_provision_plan *p, char *err, size_t errlen)
{
	enum czpg_result rc;

	if ((rc = validate_inputs(&p->o, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = resolve_paths(p, err, errlen)) != CZPG_RESULT_OK ||
	    (rc = check_paths(p, err, errlen)) != CZPG_RESULT_OK)
		return rc;
	return plan_server(p, err, errlen);
}
