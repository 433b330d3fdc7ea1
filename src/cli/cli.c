/*
 * cli.c - czctl top-level dispatch: `czctl postgres tls <verb>`, and the
 * helpers every verb's flag parsing shares.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "czpg/report.h"

struct verb {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
};

static const struct verb verb_table[] = {
    {"provision", czpg_cmd_provision,
     "turn a plaintext box into a TLS 1.3 box (dry run unless --apply)"},
    {"verify", czpg_cmd_verify,
     "prove TLS: verify-full handshake, SCRAM, and the server's pg_stat_ssl row"},
    {"bench", czpg_cmd_bench,
     "pooled TLS against pooled plaintext overhead, with a confidence interval"},
    {"probe", czpg_cmd_probe,
     "what TLS a box speaks, its certificate, plaintext and channel binding"},
    {"status", czpg_cmd_status, "local certificate expiry, key permissions and pg_hba mode"},
};

static const struct verb *verbs(size_t *n)
{
	*n = sizeof(verb_table) / sizeof(verb_table[0]);
	return verb_table;
}

static void usage(FILE *out)
{
	size_t n, i;
	const struct verb *v = verbs(&n);

	fprintf(out, "usage: czctl postgres tls <verb> [flags]\n\nverbs:\n");
	for (i = 0; i < n; i++)
		fprintf(out, "  %-10s %s\n", v[i].name, v[i].summary);
	fprintf(out, "\n`czctl postgres tls <verb> --help` describes a verb's flags.\n"
		     "Exit codes: 0 ok/PASS, 1 FAIL, 2 usage error, 3 could not finish,\n"
		     "4 inconclusive (bench gate).\n");
}

int czpg_cli_main(int argc, char **argv)
{
	size_t n, i;
	const struct verb *v = verbs(&n);

	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
		printf("czctl %s\n", CZPG_VERSION);
		return CZPG_EXIT_OK;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return CZPG_EXIT_OK;
	}
	if (argc < 3 || strcmp(argv[1], "postgres") != 0 || strcmp(argv[2], "tls") != 0) {
		if (argc >= 2)
			fprintf(stderr, "czctl: unknown command '%s%s%s'\n", argv[1],
				argc >= 3 ? " " : "", argc >= 3 ? argv[2] : "");
		usage(stderr);
		return CZPG_EXIT_USAGE;
	}
	if (argc < 4 || strcmp(argv[3], "--help") == 0 || strcmp(argv[3], "-h") == 0) {
		usage(argc < 4 ? stderr : stdout);
		return argc < 4 ? CZPG_EXIT_USAGE : CZPG_EXIT_OK;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(argv[3], v[i].name) != 0)
			continue;
		return v[i].fn(argc - 3, argv + 3);
	}
	fprintf(stderr, "czctl postgres tls: unknown verb '%s'\n", argv[3]);
	usage(stderr);
	return CZPG_EXIT_USAGE;
}

/* Is arg "--password", "--password=...", or an abbreviation getopt_long would take for it? */
static bool is_password_flag(const char *arg, const char **value)
{
	static const char flag[] = "--password";
	size_t n = strcspn(arg, "=");

	*value = NULL;
	/* "--pa" is the shortest prefix no other flag of any verb shares. */
	if (n < 4 || n > sizeof(flag) - 1 || strncmp(arg, flag, n) != 0)
		return false;
	if (arg[n] == '=')
		*value = arg + n + 1;
	return true;
}

void czpg_cli_hide_secrets(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *value;
		char *copy;

		if (strcmp(argv[i], "--") == 0)
			break;
		if (!is_password_flag(argv[i], &value))
			continue;
		if (value == NULL) {
			if (i + 1 >= argc)
				break;
			i++;
			value = argv[i];
		}
		/*
		 * The flag parser gets a heap copy; the bytes the kernel shows in
		 * /proc/<pid>/cmdline are overwritten in place.
		 */
		copy = strdup(argv[i]);
		if (copy == NULL)
			continue;
		OPENSSL_cleanse((char *)value, strlen(value));
		argv[i] = copy;
	}
}

int czpg_cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "czctl postgres tls %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CZPG_EXIT_USAGE;
}

bool czpg_cli_isatty(FILE *stream)
{
	return isatty(fileno(stream)) == 1;
}

static char *prompt_password(const char *user)
{
	struct termios old, noecho;
	char buf[1024];
	char *copy = NULL;
	size_t n;
	FILE *tty = fopen("/dev/tty", "r+");

	if (tty == NULL)
		return NULL;
	fprintf(tty, "Password for %s: ", user != NULL ? user : "the user");
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	}
	if (fgets(buf, sizeof(buf), tty) != NULL) {
		n = strcspn(buf, "\r\n");
		buf[n] = '\0';
		copy = strdup(buf);
	}
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	OPENSSL_cleanse(buf, sizeof(buf));
	return copy;
}

char *czpg_cli_password(char *flag_value, const char *env, const char *user)
{
	const char *v;
	char *copy;

	if (flag_value != NULL) {
		copy = strdup(flag_value);
		OPENSSL_cleanse(flag_value, strlen(flag_value));
		return copy;
	}
	v = env != NULL ? getenv(env) : NULL;
	if (v != NULL && v[0] != '\0')
		return strdup(v);
	if (isatty(STDIN_FILENO) == 1)
		return prompt_password(user);
	return NULL;
}

void czpg_cli_password_free(char *password)
{
	if (password == NULL)
		return;
	OPENSSL_cleanse(password, strlen(password));
	free(password);
}

int czpg_cli_exit_code(enum czpg_result r)
{
	return czpg_report_exit_code(r);
}
