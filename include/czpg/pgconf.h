/*
 * pgconf.h - the managed postgresql.conf TLS block and the include_dir check.
 *
 * Pure text in, text out: the caller reads and writes the files.
 *
 * 1. czpg_pgconf_render_tls() renders the whole content of
 *    <conf.d>/cz-tls.conf (the file name is CZPG_PGCONF_TLS_FILE): a header
 *    saying czctl owns and overwrites it, then ssl, ssl_cert_file,
 *    ssl_key_file, ssl_ca_file, ssl_min_protocol_version, ssl_ciphers,
 *    ssl_prefer_server_ciphers and ssl_ecdh_curve (ssl_groups from
 *    PostgreSQL 18): settings every version from 12 knows.
 *
 * 2. czpg_pgconf_check_include() reads postgresql.conf (as text) and says
 *    whether an include_dir line in it resolves to the conf.d directory, the
 *    exact line to add when none does, and which of our parameters are set
 *    again in postgresql.conf AFTER that include_dir line.  PostgreSQL
 *    applies the last value it reads (PostgreSQL docs, "Setting Parameters":
 *    the files of an include_dir are read at the point of the directive, in
 *    file-name order), so such a later line silently overrides our block.
 *
 * The syntax is exactly that of the PostgreSQL configuration file lexer
 * (src/backend/utils/misc/guc-file.l): one `name [=] value` per line, `#`
 * comments, a name an identifier (or qualified: `a.b`), a value a
 * single-quoted string (in which '' and backslash escapes stand for a quote
 * and escaped characters) or one bare token of guc-file.l's classes
 * (identifier, unquoted string, integer, real).  A line PostgreSQL would
 * refuse -- `include_dir = conf.d` (a qualified name where a value must be),
 * `include_dir = /etc/x` (a bare value cannot start with '/'), an empty
 * include name -- is an error here too, with the line quoted.
 */
#ifndef CZPG_PGCONF_H
#define CZPG_PGCONF_H

#include <stdbool.h>
#include <stddef.h>

/* The file the TLS block is written to, inside the conf.d directory. */
#define CZPG_PGCONF_TLS_FILE "cz-tls.conf"

/*
 * Mozilla "intermediate" ECDHE-ECDSA suites.  ssl_ciphers only governs TLS 1.2
 * and below; TLS 1.3 suites are fixed by OpenSSL's defaults.
 */
#define CZPG_PGCONF_CIPHERS                                                                        \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                             \
	"ECDHE-ECDSA-CHACHA20-POLY1305"

/* Hard limits on input this module parses. */
#define CZPG_PGCONF_MAX_BYTES ((size_t)8 << 20) /* postgresql.conf text */
#define CZPG_PGCONF_MAX_PATH 4096               /* one path, bytes */

/* What the TLS block needs.  All paths are used verbatim (absolute expected). */
struct czpg_pgconf_tls {
	const char *cert_file;     /* server certificate chain (PEM) */
	const char *key_file;      /* server private key (PEM, 0600) */
	const char *ca_file;       /* CA bundle for client certificates */
	bool allow_tls12_fallback; /* ssl_min_protocol_version 'TLSv1.2' instead of 'TLSv1.3' */
	/*
	 * The server's major version (15, 17, 18, ...; 0 = not known): 18 and
	 * later get ssl_groups, earlier ones (and 0) ssl_ecdh_curve, the name
	 * every version from 12 knows (18 keeps it as an alias of ssl_groups).
	 */
	unsigned server_major;
};

/*
 * Renders the content of cz-tls.conf.
 * Returns 0 and sets *out to a malloc'd NUL-terminated string (the caller
 * frees it with free()) and *out_len (may be NULL) to its length; or -1 with a
 * sentence in err (a path missing, too long, or holding a newline, carriage
 * return or other control character, which postgresql.conf cannot express)
 * and *out set to NULL.
 */
int czpg_pgconf_render_tls(const struct czpg_pgconf_tls *tls, char **out, size_t *out_len,
			   char *err, size_t errlen);

/*
 * Quotes value as a postgresql.conf string literal: surrounding single quotes,
 * ' doubled, \ doubled.  Returns 0 and a malloc'd string in *out (caller
 * frees), or -1 with err set (control characters, including newline, are
 * refused; so is a value longer than CZPG_PGCONF_MAX_PATH).
 */
int czpg_pgconf_quote(const char *value, char **out, char *err, size_t errlen);

/*
 * Lexical normalisation of an absolute or relative path: duplicate slashes
 * collapsed, "." removed, ".." removes the previous component ("/.." stays
 * "/"; a relative path keeps leading ".."), no trailing slash except for "/".
 * Symbolic links are not followed: pass realpath()'d strings when they may
 * matter.  Returns 0 and a malloc'd string in *out, or -1 (empty path or
 * out of memory).
 */
int czpg_pgconf_normalize_path(const char *path, char **out);

/* One parameter assignment read from a configuration file. */
struct czpg_pgconf_setting {
	unsigned line; /* 1-based line number */
	char *name;    /* lower-cased parameter name */
	char *value;   /* value with quotes removed and escapes applied */
};

/* Result of czpg_pgconf_check_include(); free with czpg_pgconf_check_free(). */
struct czpg_pgconf_check {
	/* true when some include_dir line resolves to the conf.d directory */
	bool included;
	/* 1-based line of the LAST include_dir that resolves to conf.d; 0 if none */
	unsigned include_line;
	/*
	 * When !included: the exact line to append to postgresql.conf, e.g.
	 * "include_dir = 'conf.d'" (relative when conf.d is under the conf
	 * file's directory, otherwise absolute).  NULL when included.
	 */
	char *line_to_add;
	/*
	 * Settings of TLS parameters (czpg_pgconf_is_tls_param) after
	 * include_line, in file order; each overrides our block.  Empty when
	 * !included (nothing of ours is read yet, so nothing can override it).
	 */
	struct czpg_pgconf_setting *overrides;
	size_t n_overrides;
	/*
	 * include / include_if_exists / other include_dir lines after
	 * include_line: files this check cannot see that are read after our
	 * block and may override it.  Line numbers, in file order.
	 */
	unsigned *later_includes;
	size_t n_later_includes;
};

/*
 * Checks that postgresql.conf includes confd_dir.
 *   text, len   postgresql.conf content (need not be NUL-terminated)
 *   conf_dir    the directory holding postgresql.conf; relative include_dir
 *               values resolve against it (as PostgreSQL does)
 *   confd_dir   the directory cz-tls.conf goes into (absolute)
 *   same_dir    NULL, or asked when two normalised paths differ as text
 *               whether they are the same directory anyway (the caller may
 *               follow symbolic links; this module reads no file)
 * Paths are compared after czpg_pgconf_normalize_path().
 * Returns 0 and fills *out (zeroed first; free with czpg_pgconf_check_free()
 * even on error), or -1 with err set: a syntax error PostgreSQL would also
 * refuse (with its line number), input larger than CZPG_PGCONF_MAX_BYTES, or
 * out of memory.
 */
int czpg_pgconf_check_include(const char *text, size_t len, const char *conf_dir,
			      const char *confd_dir, bool (*same_dir)(const char *a, const char *b),
			      struct czpg_pgconf_check *out, char *err, size_t errlen);

/* Frees what *c owns and zeroes it.  NULL-safe. */
void czpg_pgconf_check_free(struct czpg_pgconf_check *c);

/*
 * Parses configuration text into its settings (include directives are listed
 * as settings named "include", "include_dir", "include_if_exists").
 * Returns 0 with a malloc'd array in *out and its length in *n (free with
 * czpg_pgconf_settings_free()), or -1 with err naming the line.
 */
int czpg_pgconf_parse(const char *text, size_t len, struct czpg_pgconf_setting **out, size_t *n,
		      char *err, size_t errlen);

/* Frees an array from czpg_pgconf_parse().  NULL-safe. */
void czpg_pgconf_settings_free(struct czpg_pgconf_setting *s, size_t n);

/* True when name (case-insensitive) is one of the parameters cz-tls.conf sets
 * or another ssl_* parameter that changes the TLS the server offers. */
bool czpg_pgconf_is_tls_param(const char *name);

#endif
