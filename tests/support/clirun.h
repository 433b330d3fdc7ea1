/*
 * clirun.h - running czctl from integration tests as a user would, and
 * reading what it printed: whole lines, lines by prefix, and values of the
 * flat JSON objects its --json reports are made of.
 */
#ifndef CZPG_TEST_CLIRUN_H
#define CZPG_TEST_CLIRUN_H

#include <stdbool.h>
#include <stddef.h>

/* What one run of czctl left behind. */
struct czpg_clirun {
	int exit_code; /* -1 when it did not exit normally (killed, signal) */
	bool killed;   /* it overran its time limit */
	double ms;     /* wall time */
	char *out;     /* stdout, NUL-terminated (never NULL after a run) */
	char *err;     /* stderr */
};

/*
 * Runs $CZCTL with args (NULL-terminated, czctl itself not included):
 * stdin /dev/null, the test's environment, stdout and stderr into files of
 * dir; killed after limit_ms.  Prints the run for cmocka's log.  0, or -1
 * (could not start it, or read what it printed).
 */
int czpg_clirun(struct czpg_clirun *r, const char *dir, const char *const *args, unsigned limit_ms);
void czpg_clirun_free(struct czpg_clirun *r); /* NULL-safe */

/* The connection flags of one run; NULL fields (and port 0) are left out. */
struct czpg_clirun_target {
	const char *host;
	int port;
	const char *user;
	const char *dbname;
	const char *ca;
	const char *password;
};

/*
 * `czctl postgres tls VERB` with t's flags, then extra (NULL-terminated,
 * may be NULL), as czpg_clirun does.  0 or -1.
 */
int czpg_clirun_tls(struct czpg_clirun *r, const char *dir, const char *verb,
		    const struct czpg_clirun_target *t, const char *const *extra,
		    unsigned limit_ms);

/* The run ended by itself, with no sanitizer or UBSan report on stderr. */
bool czpg_clirun_clean(const struct czpg_clirun *r);

/* True when text holds line as one whole line. */
bool czpg_clirun_has_line(const char *text, const char *line);

/* The first line of text starting with prefix, copied into out; false if none. */
bool czpg_clirun_line(const char *text, const char *prefix, char *out, size_t cap);

/*
 * The value of key in the object named obj (NULL = the top level) of a
 * flat JSON text: strings unescaped for \" and \\ only, literals as
 * written.  obj is found by its first "obj":{ and must not hold nested
 * objects before key.  False when absent.
 */
bool czpg_clirun_json(const char *json, const char *obj, const char *key, char *out, size_t cap);

/* The value of key (as czpg_clirun_json reads it) is want; false (and says what it is) if not. */
bool czpg_clirun_json_is(const char *json, const char *obj, const char *key, const char *want);

#endif
