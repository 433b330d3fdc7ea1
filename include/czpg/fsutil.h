/*
 * fsutil.h - durable file operations for provisioning: atomic writes with
 * the final mode and owner set before the data lands, bounded reads, file
 * facts, directory checks, and a unified diff for dry-run plans.
 *
 * Every function that can fail takes `char *err, size_t errlen` and, on
 * failure, leaves there one sentence naming the path and the system's
 * reason (strerror).  err may be NULL (errlen then ignored).
 */
#ifndef CZPG_FSUTIL_H
#define CZPG_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "czpg/buf.h"

/* Pass as uid or gid to czpg_fs_write_atomic to leave that owner as created. */
#define CZPG_FS_KEEP_OWNER (-1)

/*
 * Replaces path with data[0..len) atomically and durably:
 *   1. creates "<dir>/.<name>.tmp-XXXXXX" in the same directory with
 *      O_CREAT|O_EXCL and fchmod(mode) BEFORE any byte is written (so a key
 *      is never readable by others, whatever the umask);
 *   2. writes everything, fsyncs, fchowns to uid/gid when either is not
 *      CZPG_FS_KEEP_OWNER (-1);
 *   3. renames over path and fsyncs the directory.
 * Returns 0 on success.  On any failure returns -1, path is untouched (old
 * content or still absent) and the temporary file has been removed.
 * mode is masked with 07777.  path's directory must exist.
 */
int czpg_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, long uid,
			 long gid, char *err, size_t errlen);

/*
 * Reads a whole regular file of at most max_len bytes.
 * Returns 0 and sets *data (malloc'd, with an extra NUL after the last byte
 * for text convenience; caller frees with free(), after OPENSSL_cleanse when
 * it holds a key) and *len.  Returns 1 when path does not exist (ENOENT or
 * ENOTDIR; *data = NULL), -1 when it exists but cannot be read, is not a
 * regular file, or is larger than max_len.
 */
int czpg_fs_read_file(const char *path, size_t max_len, uint8_t **data, size_t *len, char *err,
		      size_t errlen);

/* SHA-256 of a file's content into out[32].  0, 1 when missing, -1 on error. */
int czpg_fs_sha256_file(const char *path, uint8_t out[32], char *err, size_t errlen);

/*
 * Creates path and any missing parents with mode (umask not applied: the
 * mode is set explicitly on each directory this call creates).  Existing
 * directories are left as they are.  0, or -1 when a component exists and
 * is not a directory or cannot be created.
 */
int czpg_fs_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen);

/*
 * Checks, writing nothing, that files could be created in directory path.
 * Returns 0 when path is an existing writable directory; 1 when path does
 * not exist yet but its nearest existing ancestor is a writable directory
 * (czpg_fs_mkdir_p would create it); -1 otherwise (not a directory, no
 * permission, read-only file system) with the reason in err.
 */
int czpg_fs_check_writable_dir(const char *path, char *err, size_t errlen);

/* Facts about one path (stat(2), symlinks followed). */
struct czpg_fs_info {
	bool exists;
	bool is_regular;
	bool is_dir;
	mode_t mode; /* permission bits only (& 07777) */
	uid_t uid;
	gid_t gid;
	off_t size;
};

/*
 * Fills *info.  Returns 0 whether or not path exists (see info->exists);
 * -1 when stat fails for another reason (e.g. EACCES on a parent).
 */
int czpg_fs_file_info(const char *path, struct czpg_fs_info *info, char *err, size_t errlen);

/* Largest input, per side, that czpg_fs_unified_diff accepts. */
#define CZPG_FS_DIFF_MAX_LINES 100000

/*
 * Appends to out a unified diff (as `diff -u`, 3 lines of context, labels
 * without timestamps) turning old into new:
 *   --- old_label
 *   +++ new_label
 *   @@ -a,b +c,d @@
 * A last line without a newline is followed by "\ No newline at end of file".
 * Returns 0 when the inputs are identical (nothing appended), 1 when a diff
 * was appended, -1 when an input has more than CZPG_FS_DIFF_MAX_LINES lines
 * or out overflowed / allocation failed.  The diff is minimal for small
 * changes; for very large changed regions it may fall back to delete-all /
 * insert-all of that region (still a correct diff).
 */
int czpg_fs_unified_diff(const void *old, size_t oldlen, const void *new_, size_t newlen,
			 const char *old_label, const char *new_label, struct czpg_wbuf *out);

#endif
