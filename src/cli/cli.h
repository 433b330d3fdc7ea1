/*
 * cli.h - czctl command dispatch, exit codes and shared output helpers.
 *
 * czctl postgres tls <verb> [flags]; every verb is a function
 *   int czpg_cmd_<verb>(int argc, char **argv)
 * that receives argv starting at the verb name and returns an exit code
 * below.  Verbs live in their own src/cli/cmd_<verb>.c; what they decide
 * lives in the library (src/verbs/), which returns an enum czpg_result that
 * czpg_cli_exit_code maps to the codes below.
 */
#ifndef CZPG_CLI_H
#define CZPG_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "czpg/parse.h"
#include "czpg/report.h"
#include "czpg/result.h"

/* Exit codes, the same for every verb (documented in docs/exit-codes.md). */
enum czpg_exit {
	CZPG_EXIT_OK = 0,           /* PASS / done / gate below threshold */
	CZPG_EXIT_FAIL = 1,         /* the check ran and failed (TLS not proven, gate above) */
	CZPG_EXIT_USAGE = 2,        /* bad flag or value; nothing was done */
	CZPG_EXIT_ERROR = 3,        /* could not finish: I/O, permission, server unreachable */
	CZPG_EXIT_INCONCLUSIVE = 4, /* bench gate: the interval straddles the threshold */
};

int czpg_cli_main(int argc, char **argv);

/*
 * Before anything else in main: every --password value (also --password=PW
 * and the abbreviations getopt accepts) is copied to the heap, argv[i] is
 * pointed at the copy, and the original bytes -- what /proc/<pid>/cmdline
 * shows -- are overwritten with zeros.  The flag parsers then see the
 * value as usual (and czpg_cli_password wipes the copy).
 */
void czpg_cli_hide_secrets(int argc, char **argv);

int czpg_cmd_provision(int argc, char **argv);
int czpg_cmd_verify(int argc, char **argv);
int czpg_cmd_bench(int argc, char **argv);
int czpg_cmd_probe(int argc, char **argv);
int czpg_cmd_status(int argc, char **argv);

/*
 * One-line usage error: "czctl postgres tls <verb>: <message>" on stderr.
 * Returns CZPG_EXIT_USAGE so callers can `return czpg_cli_usage_error(...)`.
 */
int czpg_cli_usage_error(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The password for a verb, from (in order) the flag's value, the environment
 * variable env, or a prompt on the terminal when one is attached (echo off).
 * The flag's argv string is overwritten so it does not linger in
 * /proc/<pid>/cmdline.  Returns a heap copy to release with
 * czpg_cli_password_free (which wipes it), or NULL when there is none.
 */
char *czpg_cli_password(char *flag_value, const char *env, const char *user);
void czpg_cli_password_free(char *password);

/* The exit code for a library result (docs/exit-codes.md). */
int czpg_cli_exit_code(enum czpg_result r);

/* True when stream is a terminal (progress lines go only there). */
bool czpg_cli_isatty(FILE *stream);

#endif
