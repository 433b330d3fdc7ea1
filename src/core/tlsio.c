/*
 * tlsio.c - TLS client as an engine over memory (see czpg/tlsio.h).
 *
 * One SSL object per connection sits between two memory BIOs: ciphertext
 * the caller feeds goes into the read BIO, records OpenSSL writes land in
 * the write BIO and are handed out by peek/consume or take.  Every SSL call
 * goes through one function (tls_result) that maps SSL_get_error() to the
 * CZPG_TLS_* results and turns a failure into one sentence.
 *
 * The record path (read, write, feed, peek, consume and take once the
 * handshake is done) runs once or twice per query, so it does only what a
 * record needs: no error-queue work unless a call fails (the SSL object's
 * own state tells "want read"; a failed call describes its own error, the
 * newest in the queue, then empties it), and no SSL_read that can only say
 * "want read" (nothing buffered, nothing to decrypt).  Once a TLS 1.3
 * handshake is done, the records themselves are protected by tlsrec.c
 * rather than by OpenSSL's general record layer: OpenSSL hands over the
 * application traffic secrets through its key log callback, and everything
 * that proves the session (verification, Finished) has been OpenSSL's.
 *
 * Verification is verify-full as libpq's sslmode=verify-full: the chain
 * against the configured CA file, then the host against the certificate's
 * subjectAltName (RFC 6125 section 6: DNS-ID, or iPAddress for IP literals,
 * which are never sent as SNI: RFC 6066 section 3).  Channel binding data is
 * tls-server-end-point (RFC 5929 section 4.1).
 */
#include "czpg/tlsio.h"

#include "czpg/buf.h"
#include "czpg/certinfo.h"
#include "czpg/errf.h"
#include "czpg/parse.h"
#include "tlsrec.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct czpg_tls_config {
	SSL_CTX *ctx;
	char *ca_file;
	bool insecure;
	bool legacy;      /* insecure_seclevel0: TLS 1.0/1.1 may be configured */
	bool own_records; /* TLS 1.3 records through tlsrec.c (opt-in) rather than OpenSSL */
	int min_version;
	int max_version;
	char err[256];
};

struct czpg_tls {
	SSL *ssl;
	BIO *rbio; /* network -> SSL (owned by ssl) */
	BIO *wbio; /* SSL -> network (owned by ssl) */
	char *host;
	char *ca_file; /* copy, for messages; NULL when insecure */
	bool insecure;
	bool is_ip;
	int min_version;
	int max_version;
	bool done;   /* handshake complete */
	bool failed; /* fatal error seen: the SSL object must not be used again */
	bool eof;    /* the transport reached end of file */
	bool own_records;

	/*
	 * TLS 1.3 after the handshake: the records (tlsrec.c), set up from the
	 * application traffic secrets the key log callback caught (wiped once
	 * used); NULL while OpenSSL does the records.
	 */
	struct czpg_tlsrec *rec;
	uint8_t secret[2][EVP_MAX_MD_SIZE]; /* [0] client, [1] server */
	size_t secret_len[2];

	/*
	 * Ciphertext drained from wbio by peek, not yet consumed (out.data,
	 * out.len).  Consuming moves its read cursor: no copy per record.
	 */
	struct czpg_wbuf out;

	/* First verification failure, recorded by verify_cb. */
	int vfy_code;
	int vfy_depth;
	X509 *vfy_cert; /* the certificate that failed (up-ref) */
	X509 *vfy_leaf; /* the server's leaf (up-ref) */

	char alpn[64]; /* negotiated ALPN protocol, printable copy */
	char err[CZPG_TLS_ERR_MAX];
};

/* ---- small helpers ---- */

/*
 * Empties the thread's OpenSSL error queue.  ERR_clear_error() walks every
 * slot even when the queue is empty, which showed in profiles of small
 * records; peeking first makes the common case cheap.
 */
static void err_reset(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* The reason text of error e (0: none) into buf. */
static void error_text(unsigned long e, char *buf, size_t len)
{
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		czpg_errf(buf, len, "%s", r);
	else if (e != 0)
		czpg_errf(buf, len, "OpenSSL error %lx", e);
	else
		czpg_errf(buf, len, "no detail from OpenSSL");
}

/* The reason text of the oldest error in the thread's queue, then empties it. */
static void take_openssl_error(char *buf, size_t len)
{
	error_text(ERR_peek_error(), buf, len);
	err_reset();
}

static const char *version_name(int v)
{
	switch (v) {
	case TLS1_VERSION:
		return "TLS 1.0";
	case TLS1_1_VERSION:
		return "TLS 1.1";
	case TLS1_2_VERSION:
		return "TLS 1.2";
	case TLS1_3_VERSION:
		return "TLS 1.3";
	case 0:
		return "the newest TLS";
	}
	return "an unknown TLS version";
}

/* ---- configuration ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * OpenSSL's key log callback (NSS key log format: "LABEL <client random>
 * <secret>", in hex): keeps the two application traffic secrets of this
 * connection for its records.  Nothing is written anywhere.
 */
static void keylog_cb(const SSL *ssl, const char *line)
{
	struct czpg_tls *t = SSL_get_app_data(ssl);
	const char *hex;
	size_t i, n;
	int side, hi, lo;

	if (t == NULL || !t->own_records)
		return;
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
		side = 0;
	else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0)
		side = 1;
	else
		return;
	hex = strchr(line + 24, ' ');
	if (hex == NULL)
		return;
	hex++;
	n = strlen(hex) / 2;
	if (n > sizeof(t->secret[side]))
		return;
	for (i = 0; i < n; i++) {
		hi = hexval(hex[2 * i]);
		lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(t->secret[side], sizeof(t->secret[side]));
			return;
		}
		t->secret[side][i] = (uint8_t)(hi << 4 | lo);
	}
	t->secret_len[side] = n;
}

struct czpg_tls_config *czpg_tls_config_new(char *err, size_t errlen)
{
	struct czpg_tls_config *cfg = calloc(1, sizeof(*cfg));

	err_reset();
	if (cfg == NULL) {
		czpg_errf(err, errlen, "out of memory creating the TLS configuration");
		goto fail;
	}
	cfg->ctx = SSL_CTX_new(TLS_client_method());
	if (cfg->ctx == NULL) {
		char why[200];

		take_openssl_error(why, sizeof(why));
		czpg_errf(err, errlen, "could not create the TLS context: %s", why);
		goto fail;
	}
	cfg->min_version = TLS1_3_VERSION;
	cfg->max_version = 0;
	if (SSL_CTX_set_min_proto_version(cfg->ctx, cfg->min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(cfg->ctx, cfg->max_version) != 1) {
		czpg_errf(err, errlen, "this OpenSSL cannot use TLS 1.3");
		goto fail;
	}
	SSL_CTX_set_verify(cfg->ctx, SSL_VERIFY_PEER, NULL);
	/* Writes are all-or-error; a retried write may come from another address. */
	SSL_CTX_clear_mode(cfg->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_mode(cfg->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
	SSL_CTX_set_options(cfg->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(cfg->ctx, SSL_SESS_CACHE_OFF);
	/*
	 * Key share P-256 first: PostgreSQL's ssl_ecdh_curve defaults to
	 * prime256v1 (and provision sets it), so a first key share of X25519
	 * would cost a HelloRetryRequest, a second key generation and a round
	 * trip on every connection (RFC 8446 section 4.1.4).
	 */
	if (SSL_CTX_set1_groups_list(cfg->ctx, "P-256:X25519:P-384:P-521") != 1) {
		czpg_errf(err, errlen, "this OpenSSL cannot use the P-256 group");
		goto fail;
	}
	err_reset();
	return cfg;
fail:
	err_reset();
	czpg_tls_config_free(cfg);
	return NULL;
}

void czpg_tls_config_free(struct czpg_tls_config *cfg)
{
	if (cfg == NULL)
		return;
	SSL_CTX_free(cfg->ctx);
	free(cfg->ca_file);
	free(cfg);
}

const char *czpg_tls_config_error(const struct czpg_tls_config *cfg)
{
	return cfg != NULL ? cfg->err : "no TLS configuration";
}

int czpg_tls_config_set_ca_file(struct czpg_tls_config *cfg, const char *path)
{
	X509_STORE *store = NULL;
	STACK_OF(X509_OBJECT) *objs;
	char *copy = NULL;
	FILE *f;
	int i, ncerts = 0, rc = -1;

	err_reset();
	cfg->err[0] = '\0';
	if (path == NULL || path[0] == '\0') {
		czpg_errf(cfg->err, sizeof(cfg->err), "no CA file path given");
		goto out;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		czpg_errf(cfg->err, sizeof(cfg->err), "cannot open CA file %s: %s", path,
			  strerror(errno));
		goto out;
	}
	fclose(f);
	store = X509_STORE_new();
	copy = strdup(path);
	if (store == NULL || copy == NULL) {
		czpg_errf(cfg->err, sizeof(cfg->err), "out of memory loading CA file %s", path);
		goto out;
	}
	if (X509_STORE_load_file(store, path) != 1) {
		char why[200];

		take_openssl_error(why, sizeof(why));
		czpg_errf(cfg->err, sizeof(cfg->err),
			  "CA file %s holds no readable PEM certificate (%s)", path, why);
		goto out;
	}
	objs = X509_STORE_get0_objects(store);
	for (i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509)
			ncerts++;
	if (ncerts == 0) {
		czpg_errf(cfg->err, sizeof(cfg->err), "CA file %s holds no certificate", path);
		goto out;
	}
	SSL_CTX_set_cert_store(cfg->ctx, store); /* frees the previous store */
	store = NULL;
	free(cfg->ca_file);
	cfg->ca_file = copy;
	copy = NULL;
	rc = 0;
out:
	X509_STORE_free(store);
	free(copy);
	err_reset();
	return rc;
}

static int check_version(struct czpg_tls_config *cfg, int version, bool allow_zero)
{
	if ((allow_zero && version == 0) || version == TLS1_2_VERSION || version == TLS1_3_VERSION)
		return 0;
	if (cfg->legacy && (version == TLS1_VERSION || version == TLS1_1_VERSION))
		return 0;
	czpg_errf(cfg->err, sizeof(cfg->err),
		  "unsupported TLS version setting 0x%x: use TLS 1.2 or TLS 1.3%s",
		  (unsigned)version, cfg->legacy ? " (or TLS 1.0/1.1)" : "");
	return -1;
}

int czpg_tls_config_set_min_version(struct czpg_tls_config *cfg, int version)
{
	int rc = -1;

	err_reset();
	cfg->err[0] = '\0';
	if (check_version(cfg, version, false) != 0)
		goto out;
	if (SSL_CTX_set_min_proto_version(cfg->ctx, version) != 1) {
		czpg_errf(cfg->err, sizeof(cfg->err), "OpenSSL refused minimum version %s",
			  version_name(version));
		goto out;
	}
	cfg->min_version = version;
	rc = 0;
out:
	err_reset();
	return rc;
}

int czpg_tls_config_set_max_version(struct czpg_tls_config *cfg, int version)
{
	int rc = -1;

	err_reset();
	cfg->err[0] = '\0';
	if (check_version(cfg, version, true) != 0)
		goto out;
	if (SSL_CTX_set_max_proto_version(cfg->ctx, version) != 1) {
		czpg_errf(cfg->err, sizeof(cfg->err), "OpenSSL refused maximum version %s",
			  version_name(version));
		goto out;
	}
	cfg->max_version = version;
	rc = 0;
out:
	err_reset();
	return rc;
}

/* Shared tail of the three string setters: ok is OpenSSL's 1/0. */
static int setter_result(struct czpg_tls_config *cfg, int ok, const char *what, const char *val)
{
	char why[200];

	cfg->err[0] = '\0';
	if (ok == 1) {
		err_reset();
		return 0;
	}
	take_openssl_error(why, sizeof(why));
	czpg_errf(cfg->err, sizeof(cfg->err), "invalid TLS %s \"%s\" (%s)", what,
		  val != NULL ? val : "", why);
	return -1;
}

int czpg_tls_config_set_ciphersuites(struct czpg_tls_config *cfg, const char *suites)
{
	err_reset();
	return setter_result(cfg, suites != NULL && SSL_CTX_set_ciphersuites(cfg->ctx, suites),
			     "1.3 cipher suites", suites);
}

int czpg_tls_config_set_cipher_list(struct czpg_tls_config *cfg, const char *list)
{
	err_reset();
	return setter_result(cfg, list != NULL && SSL_CTX_set_cipher_list(cfg->ctx, list),
			     "1.2 cipher list", list);
}

int czpg_tls_config_set_groups(struct czpg_tls_config *cfg, const char *groups)
{
	err_reset();
	return setter_result(cfg, groups != NULL && SSL_CTX_set1_groups_list(cfg->ctx, groups) == 1,
			     "key exchange groups", groups);
}

void czpg_tls_config_insecure_noverify(struct czpg_tls_config *cfg)
{
	cfg->insecure = true;
	SSL_CTX_set_verify(cfg->ctx, SSL_VERIFY_NONE, NULL);
}

int czpg_tls_config_insecure_seclevel0(struct czpg_tls_config *cfg)
{
	ERR_clear_error();
	SSL_CTX_set_security_level(cfg->ctx, 0);
	cfg->legacy = true;
	/* The cipher string's own @SECLEVEL would otherwise win again. */
	return setter_result(cfg, SSL_CTX_set_cipher_list(cfg->ctx, "DEFAULT:@SECLEVEL=0"),
			     "1.2 cipher list", "DEFAULT:@SECLEVEL=0");
}

void czpg_tls_config_set_own_records(struct czpg_tls_config *cfg, bool on)
{
	cfg->own_records = on;
	/*
	 * Only then are the application traffic secrets caught (the key log
	 * callback); by default they never leave OpenSSL.
	 */
	SSL_CTX_set_keylog_callback(cfg->ctx, on ? keylog_cb : NULL);
}

int czpg_tls_config_set_alpn(struct czpg_tls_config *cfg, const char *protocol)
{
	unsigned char wire[256];
	size_t n = protocol != NULL ? strlen(protocol) : 0;

	ERR_clear_error();
	cfg->err[0] = '\0';
	if (n == 0 || n > 255) {
		czpg_errf(cfg->err, sizeof(cfg->err),
			  "invalid ALPN protocol name (it must be 1 to 255 bytes long)");
		return -1;
	}
	/* RFC 7301 section 3.1: a list of length-prefixed names; here just one. */
	wire[0] = (unsigned char)n;
	memcpy(wire + 1, protocol, n);
	/* SSL_CTX_set_alpn_protos returns 0 on success. */
	return setter_result(cfg, SSL_CTX_set_alpn_protos(cfg->ctx, wire, (unsigned)n + 1) == 0,
			     "ALPN protocol", protocol);
}

/* ---- connection ---- */

/*
 * Records the first verification failure and the leaf, so the error can say
 * which certificate failed and why.  The verdict itself is OpenSSL's.
 */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct czpg_tls *t = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	X509 *cur, *leaf;

	if (ok || t == NULL || t->vfy_code != X509_V_OK)
		return ok;
	t->vfy_code = X509_STORE_CTX_get_error(sctx);
	t->vfy_depth = X509_STORE_CTX_get_error_depth(sctx);
	cur = X509_STORE_CTX_get_current_cert(sctx);
	leaf = X509_STORE_CTX_get0_cert(sctx);
	if (cur != NULL && X509_up_ref(cur) == 1)
		t->vfy_cert = cur;
	if (leaf != NULL && X509_up_ref(leaf) == 1)
		t->vfy_leaf = leaf;
	return ok;
}

struct czpg_tls *czpg_tls_new(struct czpg_tls_config *cfg, const char *host, char *err,
			      size_t errlen)
{
	struct czpg_tls *t = NULL;
	X509_VERIFY_PARAM *vp;

	err_reset();
	if (cfg == NULL || host == NULL || host[0] == '\0') {
		czpg_errf(err, errlen, "no server host given for the TLS connection");
		goto fail;
	}
	if (!cfg->insecure && cfg->ca_file == NULL) {
		czpg_errf(err, errlen,
			  "no CA file to verify the server certificate of %s: give the CA "
			  "certificate, or choose insecure no-verify explicitly",
			  host);
		goto fail;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto oom;
	/*
	 * No cap of its own: it mirrors the write BIO, which holds whatever the
	 * caller encrypted; the plaintext side is where limits are set.
	 */
	czpg_wbuf_init(&t->out, SIZE_MAX);
	t->host = strdup(host);
	t->ca_file = cfg->ca_file != NULL ? strdup(cfg->ca_file) : NULL;
	t->insecure = cfg->insecure;
	t->min_version = cfg->min_version;
	t->max_version = cfg->max_version;
	t->own_records = cfg->own_records;
	t->vfy_code = X509_V_OK;
	if (t->host == NULL || (cfg->ca_file != NULL && t->ca_file == NULL))
		goto oom;
	t->is_ip = czpg_parse_is_ip(host);

	t->ssl = SSL_new(cfg->ctx);
	if (t->ssl == NULL)
		goto oom;
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->rbio == NULL || t->wbio == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		t->rbio = t->wbio = NULL;
		goto oom;
	}
	/* An empty read BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_mem_eof_return(t->wbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_connect_state(t->ssl);
	SSL_set_app_data(t->ssl, t);

	if (!t->insecure) {
		vp = SSL_get0_param(t->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
							X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
		if ((t->is_ip && X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) ||
		    (!t->is_ip && X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1)) {
			czpg_errf(err, errlen, "cannot check the server certificate against %s",
				  host);
			goto fail;
		}
		SSL_set_verify(t->ssl, SSL_VERIFY_PEER, verify_cb);
	} else {
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
	}
	if (!t->is_ip && SSL_set_tlsext_host_name(t->ssl, host) != 1) {
		czpg_errf(err, errlen, "server name %s cannot be sent as SNI (too long?)", host);
		goto fail;
	}
	err_reset();
	return t;
oom:
	czpg_errf(err, errlen, "out of memory creating the TLS connection to %s",
		  host != NULL ? host : "?");
fail:
	err_reset();
	czpg_tls_free(t);
	return NULL;
}

void czpg_tls_free(struct czpg_tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl); /* frees both BIOs */
	czpg_tlsrec_free(t->rec);
	OPENSSL_cleanse(t->secret, sizeof(t->secret));
	X509_free(t->vfy_cert);
	X509_free(t->vfy_leaf);
	free(t->host);
	free(t->ca_file);
	czpg_wbuf_free(&t->out);
	free(t);
}

/* ---- ciphertext side ---- */

int czpg_tls_feed_ciphertext(struct czpg_tls *t, const void *data, size_t len)
{
	size_t written = 0;
	int rc = -1;

	if (len == 0) {
		rc = 0;
		goto out;
	}
	if (t->rec != NULL) {
		rc = czpg_tlsrec_feed(t->rec, data, len, CZPG_TLS_MAX_BUFFERED_IN);
		if (rc < 0)
			czpg_errf(t->err, sizeof(t->err), "%s", czpg_tlsrec_error(t->rec));
		goto out;
	}
	if (BIO_ctrl_pending(t->rbio) + len > CZPG_TLS_MAX_BUFFERED_IN) {
		czpg_errf(t->err, sizeof(t->err),
			  "more than %zu bytes of TLS data from %s are waiting unread: read "
			  "before feeding more",
			  CZPG_TLS_MAX_BUFFERED_IN, t->host);
		goto out;
	}
	if (BIO_write_ex(t->rbio, data, len, &written) != 1 || written != len) {
		czpg_errf(t->err, sizeof(t->err), "out of memory buffering TLS data from %s",
			  t->host);
		err_reset();
		goto out;
	}
	rc = 0;
out:
	return rc;
}

void czpg_tls_feed_eof(struct czpg_tls *t)
{
	t->eof = true;
	BIO_set_mem_eof_return(t->rbio, 0);
	if (t->rec != NULL)
		czpg_tlsrec_feed_eof(t->rec);
}

size_t czpg_tls_pending_ciphertext(const struct czpg_tls *t)
{
	return t->out.len + BIO_ctrl_pending(t->wbio);
}

size_t czpg_tls_peek_ciphertext(struct czpg_tls *t, const uint8_t **p)
{
	size_t pend = BIO_ctrl_pending(t->wbio);
	size_t got = 0;
	uint8_t *room;

	if (pend > 0) {
		room = czpg_wbuf_space(&t->out, pend);
		if (room != NULL && BIO_read_ex(t->wbio, room, pend, &got) == 1)
			czpg_wbuf_commit(&t->out, got);
		else
			err_reset(); /* a memory BIO's read of pending bytes cannot fail, but */
		/*
		 * Out of memory: the bytes stay in the BIO and the next peek tries
		 * again, so the buffer's error must not stick.
		 */
		t->out.err = false;
	}
	*p = t->out.len > 0 ? t->out.data : NULL;
	return t->out.len;
}

void czpg_tls_consume_ciphertext(struct czpg_tls *t, size_t n)
{
	size_t have = t->out.len;
	uint8_t scratch[4096];

	czpg_wbuf_consume(&t->out, n);
	n = n > have ? n - have : 0;
	/* Bytes never peeked are still in the BIO: drop them there. */
	while (n > 0) {
		size_t got = 0;

		if (BIO_read_ex(t->wbio, scratch, n < sizeof(scratch) ? n : sizeof(scratch),
				&got) != 1 ||
		    got == 0) {
			err_reset(); /* the BIO had fewer bytes than asked for: it queued why */
			break;
		}
		n -= got;
	}
}

size_t czpg_tls_take_ciphertext(struct czpg_tls *t, void *buf, size_t cap)
{
	size_t have = t->out.len;
	size_t n = have < cap ? have : cap;
	size_t got = 0;

	if (n > 0) {
		memcpy(buf, t->out.data, n);
		czpg_tls_consume_ciphertext(t, n);
	}
	if (cap > n && BIO_ctrl_pending(t->wbio) > 0) {
		if (BIO_read_ex(t->wbio, (uint8_t *)buf + n, cap - n, &got) == 1)
			n += got;
		else
			err_reset();
	}
	return n;
}

/* ---- failures as sentences ---- */

static void describe_verify_failure(struct czpg_tls *t)
{
	struct czpg_cert_info ci;
	const char *host = t->host;
	const char *ca = t->ca_file != NULL ? t->ca_file : "the CA file";
	const char *why = X509_verify_cert_error_string(t->vfy_code);
	X509 *cert = t->vfy_cert != NULL ? t->vfy_cert : t->vfy_leaf;
	char subj[256];

	subj[0] = '\0';
	if (cert != NULL)
		X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));

	switch (t->vfy_code) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		czpg_certinfo_read(t->vfy_leaf, time(NULL), &ci, NULL, 0);
		if (ci.sans[0] != '\0')
			czpg_errf(t->err, sizeof(t->err),
				  "server certificate for %s does not match: no %s SAN %s "
				  "(certificate SANs: %s)",
				  host, t->is_ip ? "IP" : "DNS", host, ci.sans);
		else
			czpg_errf(
			    t->err, sizeof(t->err),
			    "server certificate for %s does not match: it has no subjectAltName "
			    "(the subject CN is not checked); reissue it with %s:%s",
			    host, t->is_ip ? "IP" : "DNS", host);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
		czpg_errf(t->err, sizeof(t->err),
			  "server certificate for %s is not signed by a CA in %s (%s)", host, ca,
			  why);
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		czpg_certinfo_read(cert, time(NULL), &ci, NULL, 0);
		if (t->vfy_depth == 0)
			czpg_errf(t->err, sizeof(t->err),
				  "server certificate for %s expired on %s: renew it on the server",
				  host, ci.not_after);
		else
			czpg_errf(t->err, sizeof(t->err),
				  "CA certificate %s in the chain of %s expired on %s", subj, host,
				  ci.not_after);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		czpg_certinfo_read(cert, time(NULL), &ci, NULL, 0);
		czpg_errf(t->err, sizeof(t->err),
			  "%s certificate for %s is not valid until %s: check the clocks of this "
			  "machine and the server",
			  t->vfy_depth == 0 ? "server" : "CA", host, ci.not_before);
		break;
	default:
		czpg_errf(t->err, sizeof(t->err),
			  "server certificate for %s failed verification against %s: %s "
			  "(certificate %s, depth %d)",
			  host, ca, why, subj, t->vfy_depth);
		break;
	}
}

/*
 * The failed call's own error is the newest in the queue: the record path
 * does not empty the queue before each call, so older entries may belong to
 * other code of this thread.
 */
static void describe_ssl_failure(struct czpg_tls *t, int sslerr, const char *op)
{
	unsigned long e = ERR_peek_last_error();
	int reason = ERR_GET_REASON(e);
	bool ssl_lib = e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL;
	char why[200];

	if (t->vfy_code != X509_V_OK) {
		describe_verify_failure(t);
		goto out;
	}
	if (ssl_lib &&
	    (reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	     reason == SSL_R_NO_PROTOCOLS_AVAILABLE || reason == SSL_R_WRONG_SSL_VERSION)) {
		if (t->max_version == 0 && t->min_version == TLS1_3_VERSION)
			czpg_errf(t->err, sizeof(t->err),
				  "server %s does not support TLS 1.3 (minimum set to TLS 1.3)",
				  t->host);
		else if (t->max_version == 0)
			czpg_errf(t->err, sizeof(t->err),
				  "server %s does not support %s or newer (minimum set to %s)",
				  t->host, version_name(t->min_version),
				  version_name(t->min_version));
		else if (t->min_version == t->max_version)
			czpg_errf(t->err, sizeof(t->err),
				  "server %s does not support %s (minimum and maximum set to %s)",
				  t->host, version_name(t->min_version),
				  version_name(t->min_version));
		else
			czpg_errf(t->err, sizeof(t->err),
				  "server %s supports no TLS version from %s to %s (minimum set to "
				  "%s, maximum to %s)",
				  t->host, version_name(t->min_version),
				  version_name(t->max_version), version_name(t->min_version),
				  version_name(t->max_version));
		goto out;
	}
	if (t->eof || (ssl_lib && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
	    (sslerr == SSL_ERROR_SYSCALL && e == 0)) {
		czpg_errf(t->err, sizeof(t->err),
			  "server %s closed the connection during TLS %s without a close_notify "
			  "alert",
			  t->host, op);
		goto out;
	}
	error_text(e, why, sizeof(why));
	czpg_errf(t->err, sizeof(t->err), "TLS %s with %s failed: %s", op, t->host, why);
out:
	err_reset();
}

/* The one place SSL_get_error() is read.  rc is the SSL_* return value. */
static int tls_result(struct czpg_tls *t, int rc, const char *op)
{
	int e = SSL_get_error(t->ssl, rc);
	int res = CZPG_TLS_ERROR;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		res = CZPG_TLS_WANT_READ;
		break;
	case SSL_ERROR_ZERO_RETURN:
		res = CZPG_TLS_CLOSED;
		break;
	case SSL_ERROR_SSL:
	case SSL_ERROR_SYSCALL:
		describe_ssl_failure(t, e, op);
		t->failed = true;
		break;
	default:
		/* WANT_WRITE cannot happen on a memory BIO; nothing else is enabled. */
		czpg_errf(t->err, sizeof(t->err), "TLS %s with %s stopped unexpectedly (code %d)",
			  op, t->host, e);
		t->failed = true;
		break;
	}
	err_reset();
	return res;
}

/*
 * A read or write after the handshake that did not succeed.  Waiting for
 * the rest of a record (or for a record after one that carried no data, a
 * ticket or a key update) queues no error: that is read off the SSL object
 * without touching the queue.  A close_notify is the same whatever another
 * part of the thread left in the queue.  Anything else is a failure.
 */
static int record_result(struct czpg_tls *t, int rc, const char *op)
{
	if (SSL_want_read(t->ssl))
		return CZPG_TLS_WANT_READ;
	if ((SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) != 0 && rc == 0) {
		err_reset();
		return CZPG_TLS_CLOSED;
	}
	return tls_result(t, rc, op);
}

static int failed_again(struct czpg_tls *t)
{
	if (t->err[0] == '\0')
		czpg_errf(t->err, sizeof(t->err), "the TLS connection to %s has already failed",
			  t->host);
	return CZPG_TLS_ERROR;
}

/* ---- the records after a TLS 1.3 handshake (tlsrec.c) ---- */

/*
 * Once the handshake is done: TLS 1.3 with a suite tlsrec.c protects, both
 * secrets caught, and nothing of a record held inside OpenSSL.  Then the
 * ciphertext OpenSSL has not read moves over and the records are ours;
 * otherwise (or when setting up fails) OpenSSL keeps doing them.
 */
static void take_records(struct czpg_tls *t)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
	uint16_t suite = c != NULL ? (uint16_t)SSL_CIPHER_get_protocol_id(c) : 0;
	uint8_t chunk[4096];
	size_t got;
	char why[CZPG_TLS_ERR_MAX];

	if (!t->own_records || SSL_version(t->ssl) != TLS1_3_VERSION ||
	    !czpg_tlsrec_supported(suite) || t->secret_len[0] == 0 ||
	    t->secret_len[0] != t->secret_len[1] || SSL_has_pending(t->ssl))
		goto out;
	t->rec = czpg_tlsrec_new(suite, true, t->secret[0], t->secret[1], t->secret_len[0], t->host,
				 why, sizeof(why));
	if (t->rec == NULL)
		goto out;
	while (BIO_ctrl_pending(t->rbio) > 0 &&
	       BIO_read_ex(t->rbio, chunk, sizeof(chunk), &got) == 1 && got > 0)
		if (czpg_tlsrec_feed(t->rec, chunk, got, CZPG_TLS_MAX_BUFFERED_IN) < 0) {
			/* cannot happen: OpenSSL held less than the limit; keep it honest */
			czpg_errf(t->err, sizeof(t->err), "%s", czpg_tlsrec_error(t->rec));
			t->failed = true;
			break;
		}
	if (t->eof)
		czpg_tlsrec_feed_eof(t->rec);
out:
	OPENSSL_cleanse(t->secret, sizeof(t->secret));
	t->secret_len[0] = t->secret_len[1] = 0;
	err_reset();
}

/* Our records go after what OpenSSL already wrote (its Finished): move that out first. */
static void take_openssl_output(struct czpg_tls *t)
{
	const uint8_t *p;

	if (BIO_ctrl_pending(t->wbio) > 0)
		(void)czpg_tls_peek_ciphertext(t, &p);
}

/* A record-layer result: a failure's sentence becomes the connection's. */
static ssize_t rec_result(struct czpg_tls *t, ssize_t rc)
{
	if (rc == CZPG_TLS_ERROR) {
		czpg_errf(t->err, sizeof(t->err), "%s", czpg_tlsrec_error(t->rec));
		t->failed = true;
	}
	return rc;
}

bool czpg_tls_own_records(const struct czpg_tls *t)
{
	return t->rec != NULL;
}

/* ---- plaintext side ---- */

int czpg_tls_handshake(struct czpg_tls *t)
{
	int rc;

	if (t->failed)
		return failed_again(t);
	if (t->done)
		return CZPG_TLS_OK;
	err_reset();
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->done = true;
		take_records(t);
		err_reset();
		return CZPG_TLS_OK;
	}
	return tls_result(t, rc, "handshake");
}

ssize_t czpg_tls_read(struct czpg_tls *t, void *buf, size_t cap)
{
	size_t n = 0;
	int rc;

	if (t->failed)
		return failed_again(t);
	if (!t->done) {
		rc = czpg_tls_handshake(t);
		if (rc != CZPG_TLS_OK)
			return rc;
	}
	if (cap == 0) {
		czpg_errf(t->err, sizeof(t->err), "TLS read from %s given no room", t->host);
		return CZPG_TLS_ERROR;
	}
	if (t->rec != NULL)
		return rec_result(t, czpg_tlsrec_read(t->rec, buf, cap, &t->out));
	/*
	 * Nothing buffered to decrypt and nothing decrypted left: a read could
	 * only say "want read".  At end of file, or once the peer closed, it
	 * must run, to say how the stream ended.
	 */
	if (!t->eof && BIO_ctrl_pending(t->rbio) == 0 && SSL_pending(t->ssl) == 0 &&
	    (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) == 0)
		return CZPG_TLS_WANT_READ;
	if (cap > SSIZE_MAX)
		cap = SSIZE_MAX;
	rc = SSL_read_ex(t->ssl, buf, cap, &n);
	if (rc == 1)
		return (ssize_t)n;
	return record_result(t, rc, "read");
}

ssize_t czpg_tls_write(struct czpg_tls *t, const void *buf, size_t len)
{
	size_t n = 0;
	int rc;

	if (t->failed)
		return failed_again(t);
	if (!t->done) {
		rc = czpg_tls_handshake(t);
		if (rc != CZPG_TLS_OK)
			return rc;
	}
	if (len == 0 || len > SSIZE_MAX) {
		czpg_errf(t->err, sizeof(t->err), "TLS write to %s of %zu bytes is not possible",
			  t->host, len);
		return CZPG_TLS_ERROR;
	}
	if (t->rec != NULL) {
		take_openssl_output(t);
		return rec_result(t, czpg_tlsrec_write(t->rec, buf, len, &t->out));
	}
	rc = SSL_write_ex(t->ssl, buf, len, &n);
	if (rc == 1 && n == len)
		return (ssize_t)n;
	if (rc == 1) {
		/* Partial writes are off; this would be an OpenSSL contract breach. */
		czpg_errf(t->err, sizeof(t->err), "TLS write to %s was cut short", t->host);
		t->failed = true;
		err_reset();
		return CZPG_TLS_ERROR;
	}
	rc = record_result(t, rc, "write");
	if (rc == CZPG_TLS_CLOSED) {
		czpg_errf(t->err, sizeof(t->err), "TLS write to %s after the server closed",
			  t->host);
		rc = CZPG_TLS_ERROR;
	}
	return rc;
}

int czpg_tls_shutdown(struct czpg_tls *t)
{
	int rc;

	if (t->failed)
		return failed_again(t);
	if (!t->done)
		return CZPG_TLS_OK; /* nothing to close politely mid-handshake */
	if (t->rec != NULL) {
		take_openssl_output(t);
		return (int)rec_result(t, czpg_tlsrec_close(t->rec, &t->out));
	}
	err_reset();
	rc = SSL_shutdown(t->ssl);
	if (rc >= 0) {
		err_reset();
		return CZPG_TLS_OK;
	}
	rc = tls_result(t, rc, "shutdown");
	return rc == CZPG_TLS_ERROR ? rc : CZPG_TLS_OK;
}

/* ---- state after the handshake ---- */

const char *czpg_tls_error(const struct czpg_tls *t)
{
	return t->err;
}

bool czpg_tls_handshake_done(const struct czpg_tls *t)
{
	return t->done;
}

const char *czpg_tls_host(const struct czpg_tls *t)
{
	return t->host;
}

const char *czpg_tls_version(const struct czpg_tls *t)
{
	return t->done ? SSL_get_version(t->ssl) : NULL;
}

const char *czpg_tls_cipher(const struct czpg_tls *t)
{
	return t->done ? SSL_get_cipher_name(t->ssl) : NULL;
}

const char *czpg_tls_group(const struct czpg_tls *t)
{
	int nid;

	if (!t->done)
		return NULL;
	nid = SSL_get_negotiated_group(t->ssl);
	if (nid == NID_undef)
		return NULL;
	return SSL_group_to_name(t->ssl, nid);
}

const char *czpg_tls_alpn(struct czpg_tls *t)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;

	if (!t->done)
		return NULL;
	SSL_get0_alpn_selected(t->ssl, &p, &n);
	if (p == NULL || n == 0)
		return NULL;
	czpg_certinfo_printable(t->alpn, sizeof(t->alpn), p, n);
	return t->alpn;
}

size_t czpg_tls_peer_chain_length(const struct czpg_tls *t)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(t->ssl);
	int n = chain != NULL ? sk_X509_num(chain) : 0;

	return n > 0 ? (size_t)n : 0;
}

X509 *czpg_tls_peer_chain_cert(const struct czpg_tls *t, size_t i)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(t->ssl);

	if (chain == NULL || i >= (size_t)sk_X509_num(chain))
		return NULL;
	return sk_X509_value(chain, (int)i);
}

long czpg_tls_verify_result(const struct czpg_tls *t)
{
	if (t->vfy_code != X509_V_OK)
		return t->vfy_code;
	return SSL_get_verify_result(t->ssl);
}

X509 *czpg_tls_peer_certificate(const struct czpg_tls *t)
{
	return SSL_get0_peer_certificate(t->ssl);
}

int czpg_tls_server_end_point(struct czpg_tls *t, uint8_t out[EVP_MAX_MD_SIZE], size_t *outlen)
{
	X509 *cert = SSL_get0_peer_certificate(t->ssl);
	char why[300];

	if (cert == NULL) {
		czpg_errf(
		    t->err, sizeof(t->err),
		    "no server certificate from %s to bind the channel to (handshake not done)",
		    t->host);
		return -1;
	}
	if (czpg_tls_cert_end_point_hash(cert, out, outlen, why, sizeof(why)) != 0) {
		czpg_errf(t->err, sizeof(t->err), "server %s: %s", t->host, why);
		return -1;
	}
	return 0;
}

int czpg_tls_cert_end_point_hash(X509 *cert, uint8_t out[EVP_MAX_MD_SIZE], size_t *outlen,
				 char *err, size_t errlen)
{
	int mdnid = NID_undef, pknid = NID_undef;
	const EVP_MD *md;
	unsigned int len = 0;
	int rc = -1;

	err_reset();
	*outlen = 0;
	if (cert == NULL) {
		czpg_errf(err, errlen, "no certificate to compute channel binding data from");
		goto out;
	}
	/* X509_get_signature_info also reads the digest inside RSA-PSS parameters. */
	if (X509_get_signature_info(cert, &mdnid, &pknid, NULL, NULL) != 1 &&
	    OBJ_find_sigid_algs(X509_get_signature_nid(cert), &mdnid, &pknid) != 1) {
		czpg_errf(err, errlen,
			  "the certificate's signature algorithm %s is unknown, so its channel "
			  "binding hash cannot be chosen",
			  OBJ_nid2ln(X509_get_signature_nid(cert)));
		goto out;
	}
	if (mdnid == NID_undef) {
		czpg_errf(err, errlen,
			  "the certificate is signed with %s, which has no separate hash, so it "
			  "cannot be used for channel binding (tls-server-end-point, RFC 5929); "
			  "use an ECDSA or RSA certificate, or turn channel binding off",
			  OBJ_nid2sn(pknid != NID_undef ? pknid : X509_get_signature_nid(cert)));
		goto out;
	}
	/* RFC 5929 section 4.1: MD5 and SHA-1 are replaced with SHA-256. */
	if (mdnid == NID_md5 || mdnid == NID_sha1)
		mdnid = NID_sha256;
	md = EVP_get_digestbynid(mdnid);
	if (md == NULL) {
		czpg_errf(err, errlen, "the certificate's signature hash %s is not available",
			  OBJ_nid2sn(mdnid));
		goto out;
	}
	if (X509_digest(cert, md, out, &len) != 1) {
		czpg_errf(err, errlen, "could not hash the certificate for channel binding");
		goto out;
	}
	*outlen = len;
	rc = 0;
out:
	err_reset();
	return rc;
}
