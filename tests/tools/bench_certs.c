/*
 * bench_certs.c - writes the certificates a TLS bench sandbox needs, made
 * with czpg's own pki module: an ECDSA P-256 CA, a P-256 server leaf and an
 * RSA-2048 server leaf (for the handshake-cost comparison), both with the
 * SANs DNS:localhost and IP:127.0.0.1.
 *
 *   bench_certs DIR   ->  DIR/ca.crt  DIR/server.crt DIR/server.key
 *                         DIR/server-rsa.crt DIR/server-rsa.key  (keys 0600)
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "czpg/buf.h"
#include "czpg/pki.h"

static int write_file(const char *dir, const char *name, const struct czpg_wbuf *w, int mode)
{
	char path[4096];
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		perror(path);
		return -1;
	}
	if (fchmod(fd, (mode_t)mode) == 0 && write(fd, w->data, w->len) == (ssize_t)w->len)
		rc = 0;
	else
		perror(path);
	close(fd);
	return rc;
}

static int write_pair(const char *dir, const char *base, X509 *cert, EVP_PKEY *key)
{
	struct czpg_wbuf c, k;
	char name[64], err[256];
	int rc = -1;

	czpg_wbuf_init(&c, 0);
	czpg_wbuf_init(&k, 0);
	if (czpg_pki_cert_to_pem(cert, &c, err, sizeof(err)) < 0 ||
	    (key != NULL && czpg_pki_key_to_pem(key, &k, err, sizeof(err)) < 0)) {
		fprintf(stderr, "bench_certs: %s\n", err);
		goto out;
	}
	snprintf(name, sizeof(name), "%s.crt", base);
	if (write_file(dir, name, &c, 0644) < 0)
		goto out;
	snprintf(name, sizeof(name), "%s.key", base);
	if (key != NULL && write_file(dir, name, &k, 0600) < 0)
		goto out;
	rc = 0;
out:
	czpg_wbuf_free(&c);
	czpg_wbuf_free_secure(&k);
	return rc;
}

int main(int argc, char **argv)
{
	struct czpg_pki_opts ec = {0}, rsa = {.key_type = CZPG_PKI_KEY_RSA_2048};
	X509 *ca = NULL, *leaf = NULL, *leaf_rsa = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL, *key_rsa = NULL;
	char err[256];
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_certs DIR\n");
		return 2;
	}
	if (czpg_pki_make_ca("czpg bench CA", &ec, &ca, &ca_key, err, sizeof(err)) < 0 ||
	    czpg_pki_make_leaf("localhost", "127.0.0.1", &ec, ca, ca_key, &leaf, &key, err,
			       sizeof(err)) < 0 ||
	    czpg_pki_make_leaf("localhost", "127.0.0.1", &rsa, ca, ca_key, &leaf_rsa, &key_rsa, err,
			       sizeof(err)) < 0) {
		fprintf(stderr, "bench_certs: %s\n", err);
		goto out;
	}
	if (write_pair(argv[1], "ca", ca, NULL) < 0 ||
	    write_pair(argv[1], "server", leaf, key) < 0 ||
	    write_pair(argv[1], "server-rsa", leaf_rsa, key_rsa) < 0)
		goto out;
	rc = 0;
out:
	X509_free(ca);
	X509_free(leaf);
	X509_free(leaf_rsa);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(key_rsa);
	return rc;
}
