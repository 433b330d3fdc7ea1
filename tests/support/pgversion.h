/*
 * pgversion.h - what the integration tests expect of each PostgreSQL major
 * version they run against (15, 17, 18), in one place: a test reads the
 * entry of the sandbox's version instead of testing the version itself.
 * Every entry was checked against the real servers; docs/versions.md lists
 * what was seen.
 */
#ifndef CZPG_TEST_PGVERSION_H
#define CZPG_TEST_PGVERSION_H

#include <stdbool.h>

struct czpg_pgversion {
	int major;
	/*
	 * Direct TLS (PostgreSQL 17+): a connection may open with a TLS
	 * ClientHello carrying ALPN "postgresql" instead of an SSLRequest.
	 * Before 17 the server reads the ClientHello as a bad startup packet.
	 */
	bool direct_tls;
	/*
	 * A pg_hba.conf line this version rejects on reload, and the error
	 * pg_hba_file_rules reports for it: syntax of a later release (15:
	 * include_if_exists, from 16, which 16+ accepts and, for a missing file,
	 * skips without an error row; 17: the oauth method of 18), and for 18
	 * oauth without the scope option it requires.
	 */
	const char *hba_rejected_line;
	const char *hba_rejected_error;
	/*
	 * Whether a server with default settings accepts X25519 for TLS 1.3:
	 * up to 17 ssl_ecdh_curve's one curve (prime256v1) is all it offers;
	 * 18's ssl_groups defaults to "X25519:prime256v1".
	 */
	bool default_x25519;
	/*
	 * The pg_settings row that holds the key-exchange groups.  On 18
	 * ssl_ecdh_curve is an alias of ssl_groups: setting it sets ssl_groups,
	 * SHOW ssl_ecdh_curve still answers, pg_file_settings keeps the name the
	 * file used, and pg_settings lists only ssl_groups.
	 */
	const char *groups_setting;
};

/* The expectations of major version `major`, or NULL for a version the suite does not know. */
const struct czpg_pgversion *czpg_pgversion_lookup(int major);

#endif
