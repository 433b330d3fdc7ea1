/*
 * pgversion.c - the per-version expectations of the integration tests
 * (pgversion.h), one row per PostgreSQL major version the suite runs.
 */
#include "pgversion.h"

#include <stddef.h>

static const struct czpg_pgversion versions[] = {
    {
	.major = 15,
	.direct_tls = false,
	.hba_rejected_line = "include_if_exists extra_hba.conf",
	.hba_rejected_error = "invalid connection type \"include_if_exists\"",
	.default_x25519 = false,
	.groups_setting = "ssl_ecdh_curve",
    },
    {
	.major = 17,
	.direct_tls = true,
	.hba_rejected_line = "host all all 127.0.0.1/32 oauth",
	.hba_rejected_error = "invalid authentication method \"oauth\"",
	.default_x25519 = false,
	.groups_setting = "ssl_ecdh_curve",
    },
    {
	.major = 18,
	.direct_tls = true,
	.hba_rejected_line = "host all all 127.0.0.1/32 oauth",
	.hba_rejected_error =
	    "authentication method \"oauth\" requires argument \"scope\" to be set",
	.default_x25519 = true,
	.groups_setting = "ssl_groups",
    },
};

const struct czpg_pgversion *czpg_pgversion_lookup(int major)
{
	const struct czpg_pgversion *found = NULL;
	size_t i;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		if (versions[i].major == major)
			found = &versions[i];
	return found;
}
