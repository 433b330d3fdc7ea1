/*
 * connflags.c - the connection flags verify, probe and bench share (see
 * connflags.h): their getopt_long entries, value rules and error sentences.
 */
#include "connflags.h"

#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "czpg/engine.h"
#include "czpg/errf.h"
#include "czpg/parse.h"

/* The entry of each shared flag, in the order tables list them. */
static const struct option connflag_table[CZPG_CONNFLAGS_COUNT] = {
    {"host", required_argument, NULL, CZPG_CONNFLAG_HOST},
    {"port", required_argument, NULL, CZPG_CONNFLAG_PORT},
    {"user", required_argument, NULL, CZPG_CONNFLAG_USER},
    {"dbname", required_argument, NULL, CZPG_CONNFLAG_DBNAME},
    {"ca", required_argument, NULL, CZPG_CONNFLAG_CA},
    {"password", required_argument, NULL, CZPG_CONNFLAG_PASSWORD},
    {"channel-binding", required_argument, NULL, CZPG_CONNFLAG_CHANNEL_BINDING},
    {"min-tls", required_argument, NULL, CZPG_CONNFLAG_MIN_TLS},
    {"timeout", required_argument, NULL, CZPG_CONNFLAG_TIMEOUT},
    {"sslnegotiation", required_argument, NULL, CZPG_CONNFLAG_SSLNEGOTIATION},
};

/* Whether cf binds the flag with code ch. */
static int binds(const struct czpg_connflags *cf, int ch)
{
	switch (ch) {
	case CZPG_CONNFLAG_HOST:
		return cf->host != NULL;
	case CZPG_CONNFLAG_PORT:
		return cf->port != NULL || cf->ports != NULL;
	case CZPG_CONNFLAG_USER:
		return cf->user != NULL;
	case CZPG_CONNFLAG_DBNAME:
		return cf->dbname != NULL;
	case CZPG_CONNFLAG_CA:
		return cf->ca_file != NULL;
	case CZPG_CONNFLAG_PASSWORD:
		return cf->password != NULL;
	case CZPG_CONNFLAG_CHANNEL_BINDING:
		return cf->channel_binding != NULL;
	case CZPG_CONNFLAG_MIN_TLS:
		return cf->min_tls != NULL;
	case CZPG_CONNFLAG_TIMEOUT:
		return cf->timeout_ms != NULL;
	case CZPG_CONNFLAG_SSLNEGOTIATION:
		return cf->sslnegotiation != NULL;
	default:
		return 0;
	}
}

int czpg_connflags_options(const struct czpg_connflags *cf, const struct option *own,
			   struct option *out, size_t cap)
{
	size_t n = 0, i;
	int rc = -1;

	for (i = 0; own != NULL && own[i].name != NULL; i++) {
		if (n == cap)
			goto out;
		out[n++] = own[i];
	}
	for (i = 0; i < CZPG_CONNFLAGS_COUNT; i++) {
		if (!binds(cf, connflag_table[i].val))
			continue;
		if (n == cap)
			goto out;
		out[n++] = connflag_table[i];
	}
	if (n == cap)
		goto out;
	memset(&out[n], 0, sizeof(out[n]));
	rc = 0;
out:
	return rc;
}

/* libpq's sslnegotiation values: postgres (SSLRequest first) or direct (TLS at once). */
static int take_sslnegotiation(const struct czpg_connflags *cf, const char *arg, char *err,
			       size_t errlen)
{
	if (strcmp(arg, "postgres") == 0) {
		*cf->sslnegotiation = CZPG_OPEN_DEFAULT;
	} else if (strcmp(arg, "direct") == 0) {
		*cf->sslnegotiation = CZPG_OPEN_DIRECT_TLS;
	} else {
		czpg_errf(err, errlen, "--sslnegotiation '%s' is not postgres or direct", arg);
		return -1;
	}
	return 0;
}

/*
 * --port where a list may be given (cf->ports bound): "5432" or
 * "5432,5433", each element a port by the one rule of --port.  Nothing is
 * stored unless the whole list is good.
 */
static int take_ports(const struct czpg_connflags *cf, const char *arg, char *err, size_t errlen)
{
	unsigned got[CZPG_ENGINE_MAX_HOSTS];
	const char *p = arg, *comma;
	char one[16];
	size_t n = 0, len;
	unsigned long v;
	int rc = -1;

	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (comma == NULL && n == 0) {
			/* One port: the sentence every verb gives. */
			if (czpg_parse_uint(arg, 1, 65535, &v) < 0) {
				czpg_errf(err, errlen, "--port '%s' is not a port (1-65535)", arg);
				goto out;
			}
		} else if (len == 0) {
			czpg_errf(err, errlen, "--port '%s': the port list has an empty port", arg);
			goto out;
		} else if (n == CZPG_ENGINE_MAX_HOSTS) {
			czpg_errf(err, errlen, "--port '%s': the port list has more than %d ports",
				  arg, CZPG_ENGINE_MAX_HOSTS);
			goto out;
		} else {
			if (len < sizeof(one)) {
				memcpy(one, p, len);
				one[len] = '\0';
			}
			if (len >= sizeof(one) || czpg_parse_uint(one, 1, 65535, &v) < 0) {
				czpg_errf(err, errlen,
					  "--port '%s': '%.*s' is not a port (1-65535)", arg,
					  (int)len, p);
				goto out;
			}
		}
		got[n++] = (unsigned)v;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	memcpy(cf->ports, got, n * sizeof(got[0]));
	if (cf->nports != NULL)
		*cf->nports = n;
	if (cf->port != NULL)
		*cf->port = got[0];
	rc = 0;
out:
	return rc;
}

int czpg_connflags_take(const struct czpg_connflags *cf, int ch, char *arg, char *err,
			size_t errlen)
{
	struct czpg_engine_hosts hosts;
	char why[160];
	unsigned long v;
	int rc = 1;

	if (!binds(cf, ch))
		goto out;
	rc = -1;
	switch (ch) {
	case CZPG_CONNFLAG_HOST:
		/* A libpq-style list "db1,db2" is checked here, by the one splitter. */
		if (czpg_engine_split_hosts(arg, &hosts, why, sizeof(why)) < 0) {
			czpg_errf(err, errlen, "--host '%s': %s", arg, why);
			goto out;
		}
		*cf->host = arg;
		break;
	case CZPG_CONNFLAG_PORT:
		if (cf->ports != NULL) {
			if (take_ports(cf, arg, err, errlen) < 0)
				goto out;
			break;
		}
		if (czpg_parse_uint(arg, 1, 65535, &v) < 0) {
			czpg_errf(err, errlen, "--port '%s' is not a port (1-65535)", arg);
			goto out;
		}
		*cf->port = (unsigned)v;
		break;
	case CZPG_CONNFLAG_USER:
		*cf->user = arg;
		break;
	case CZPG_CONNFLAG_DBNAME:
		*cf->dbname = arg;
		break;
	case CZPG_CONNFLAG_CA:
		*cf->ca_file = arg;
		break;
	case CZPG_CONNFLAG_PASSWORD:
		*cf->password = arg;
		break;
	case CZPG_CONNFLAG_CHANNEL_BINDING:
		if (strcmp(arg, "disable") == 0) {
			*cf->channel_binding = CZPG_CB_DISABLE;
		} else if (strcmp(arg, "prefer") == 0) {
			*cf->channel_binding = CZPG_CB_PREFER;
		} else if (strcmp(arg, "require") == 0) {
			*cf->channel_binding = CZPG_CB_REQUIRE;
		} else {
			czpg_errf(err, errlen,
				  "--channel-binding '%s' is not one of disable, prefer, require",
				  arg);
			goto out;
		}
		break;
	case CZPG_CONNFLAG_MIN_TLS:
		if (strcmp(arg, "1.3") == 0) {
			*cf->min_tls = TLS1_3_VERSION;
		} else if (strcmp(arg, "1.2") == 0) {
			*cf->min_tls = TLS1_2_VERSION;
		} else {
			czpg_errf(err, errlen, "--min-tls '%s' is not 1.2 or 1.3", arg);
			goto out;
		}
		break;
	case CZPG_CONNFLAG_TIMEOUT:
		if (czpg_parse_uint(arg, 1, 3600, &v) < 0) {
			czpg_errf(err, errlen, "--timeout '%s' is not a number of seconds (1-3600)",
				  arg);
			goto out;
		}
		*cf->timeout_ms = (unsigned)v * 1000u;
		break;
	case CZPG_CONNFLAG_SSLNEGOTIATION:
		if (take_sslnegotiation(cf, arg, err, errlen) < 0)
			goto out;
		break;
	default:
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* A bound text flag that was not given, or given empty. */
static int missing(const char *const *field)
{
	return field == NULL || *field == NULL || (*field)[0] == '\0';
}

/* A --port list names one port per --host name, as libpq matches port= to host=. */
static int check_port_list(const struct czpg_connflags *cf, char *err, size_t errlen)
{
	struct czpg_engine_hosts hosts;
	size_t nports = cf->nports != NULL ? *cf->nports : 0;
	char why[160];

	if (cf->ports == NULL || nports < 2)
		return 0;
	if (missing(cf->host)) {
		czpg_errf(err, errlen, "a --port list needs a --host list of as many names");
		return -1;
	}
	if (czpg_engine_split_hosts(*cf->host, &hosts, why, sizeof(why)) < 0) {
		czpg_errf(err, errlen, "--host '%s': %s", *cf->host, why);
		return -1;
	}
	if (hosts.n != nports) {
		czpg_errf(err, errlen,
			  "--port has %zu ports for the %zu name(s) of --host: give one port for "
			  "all, or one per name",
			  nports, hosts.n);
		return -1;
	}
	return 0;
}

int czpg_connflags_check(const struct czpg_connflags *cf, unsigned need, const char *ca_why,
			 char *err, size_t errlen)
{
	const char *ca = cf->ca_file != NULL ? *cf->ca_file : NULL;
	int rc = -1;

	if ((need & CZPG_CONNFLAGS_NEED_HOST) && missing(cf->host)) {
		czpg_errf(err, errlen, "--host is required");
		goto out;
	}
	if ((need & CZPG_CONNFLAGS_NEED_USER) && missing(cf->user)) {
		czpg_errf(err, errlen, "--user is required");
		goto out;
	}
	if (check_port_list(cf, err, errlen) < 0)
		goto out;
	if ((need & CZPG_CONNFLAGS_NEED_CA) && ca == NULL) {
		if (ca_why != NULL && ca_why[0] != '\0')
			czpg_errf(err, errlen, "--ca is required: %s", ca_why);
		else
			czpg_errf(err, errlen, "--ca is required");
		goto out;
	}
	if (ca != NULL && access(ca, R_OK) != 0) {
		czpg_errf(err, errlen, "--ca '%s' is not a readable file", ca);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

unsigned czpg_connflags_port_of(const struct czpg_connflags *cf, size_t i)
{
	size_t nports = cf->nports != NULL ? *cf->nports : 0;

	if (cf->ports != NULL && nports > 1 && i < nports)
		return cf->ports[i];
	if (cf->ports != NULL && nports >= 1)
		return cf->ports[0];
	return cf->port != NULL ? *cf->port : 0;
}
