/*
 * scram_unicode.h - Unicode pieces of SASLprep (RFC 4013, RFC 3454) for the
 * SCRAM client: stringprep table lookups and NFKC normalisation (Unicode
 * Standard Annex #15).  Internal to the library.
 */
#ifndef CZPG_SCRAM_UNICODE_H
#define CZPG_SCRAM_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool czpg_scram_unicode_is_non_ascii_space(uint32_t c);   /* RFC 3454 C.1.2 */
bool czpg_scram_unicode_is_mapped_to_nothing(uint32_t c); /* B.1 */
bool czpg_scram_unicode_is_prohibited(uint32_t c);        /* C.1.2, C.2.1, C.2.2, C.3-C.9 */
bool czpg_scram_unicode_is_unassigned(uint32_t c);        /* A.1 */
bool czpg_scram_unicode_is_randalcat(uint32_t c);         /* D.1 */
bool czpg_scram_unicode_is_lcat(uint32_t c);              /* D.2 */

/*
 * NFKC of in[0..n) (code points, none a surrogate or above U+10FFFF).
 * *out is a new array of *outlen code points; the caller frees it.
 * Returns 0, or -1 when out of memory.
 */
int czpg_scram_unicode_nfkc(const uint32_t *in, size_t n, uint32_t **out, size_t *outlen);

#endif
