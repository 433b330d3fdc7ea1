/*
 * fuzz_scram.c - libFuzzer target for the SCRAM client's parsers (scram.c).
 *
 * The first input byte picks what the rest is:
 *   0: a server-first-message (for the client nonce "fuzznonce"); when it
 *      is accepted, whatever follows the first '\n' is the server-final;
 *   1: a server-final-message, after a valid server-first;
 *   2: a password for czpg_scram_normalize_password (SASLprep / NFKC).
 * The iteration cap is tiny so the fuzzer spends its time parsing, and a
 * shared salted-password cache exercises the cache paths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "czpg/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct czpg_scram_cache *cache;

static void exchange(const uint8_t *first, size_t first_len, const uint8_t *final, size_t final_len)
{
	struct czpg_scram *s;
	struct czpg_wbuf w;

	s = czpg_scram_new("fuzz-password", CZPG_SCRAM_CB_NONE, NULL, 0, cache, NULL, 0);
	if (s == NULL)
		abort();
	czpg_scram_set_max_iterations(s, 16);
	czpg_wbuf_init(&w, 0);
	if (czpg_scram_set_nonce_for_testing(s, "fuzznonce") < 0 ||
	    czpg_scram_client_first(s, &w) < 0)
		abort();
	czpg_wbuf_reset(&w);
	if (czpg_scram_server_first(s, first, first_len, &w) == 0) {
		if (czpg_scram_server_final(s, final, final_len) == 0 && !czpg_scram_is_verified(s))
			abort();
	} else if (czpg_scram_is_verified(s) || czpg_scram_error(s)[0] == '\0') {
		abort();
	}
	czpg_wbuf_free(&w);
	czpg_scram_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char valid_first[] = "r=fuzznonceSERVER,s=c2FsdHNhbHQ=,i=2";
	const uint8_t *nl;
	char *pw;

	if (cache == NULL) {
		cache = czpg_scram_cache_new(4);
		if (cache == NULL)
			abort();
	}
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		nl = memchr(data + 1, '\n', size - 1);
		if (nl == NULL)
			exchange(data + 1, size - 1, NULL, 0);
		else
			exchange(data + 1, (size_t)(nl - data - 1), nl + 1,
				 size - (size_t)(nl + 1 - data));
		break;
	case 1:
		exchange((const uint8_t *)valid_first, strlen(valid_first), data + 1, size - 1);
		break;
	default:
		pw = malloc(size);
		if (pw == NULL)
			return 0;
		memcpy(pw, data + 1, size - 1);
		pw[size - 1] = '\0';
		{
			char *out = NULL;
			enum czpg_scram_prep rc = czpg_scram_normalize_password(pw, &out);

			if ((rc == CZPG_SCRAM_PREP_ERROR) != (out == NULL))
				abort();
			if (out != NULL) {
				OPENSSL_cleanse(out, strlen(out));
				free(out);
			}
		}
		free(pw);
		break;
	}
	return 0;
}
