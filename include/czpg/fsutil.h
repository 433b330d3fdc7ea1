/*
 * fsutil.h - durable file operations for provisioning: atomic writes with
 * the final mode and owner set before the data lands (through symbolic
 * links: the target is replaced, the link kept), atomic symbolic links,
 * durable removal, owned directories, the exclusive lock of a provision run,
 * removal of what an interrupted write left, bounded reads, file facts,
 * directory checks, and a unified diff for dry-run plans.
 *
 * Every function that can fail takes `char *err, size_t errlen` and, on
 * failure, leaves there one sentence naming the path and the system's
 * reason (strerror).  err may be NULL (errlen then ignored).
 *
 * Test hook (for the fault-injection tests only; without these variables
 * nothing changes): every step that changes the file system (create a
 * temporary file, write, fsync, rename, directory sync, unlink, symlink,
 * mkdir, rmdir) is numbered from 1 in the order the process takes them (a
 * forked child counts anew).
 *   CZPG_TEST_FS_TRACE=FILE      appends "N op path" per step to FILE
 *   CZPG_TEST_FS_FAULT=N:fail    step N fails with EIO (the caller's error
 *                                path runs)
 *   CZPG_TEST_FS_FAULT=N:kill    the process gets SIGKILL just before step N
 *   CZPG_TEST_FS_FAULT=N:stop    the process stops (SIGSTOP) just before
 *                                step N, and goes on when continued
 *   CZPG_TEST_FS_FAULT=N:stop-each  the same before step N and every later one
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

/* The test hook's variables (see the file comment). */
#define CZPG_FS_FAULT_ENV "CZPG_TEST_FS_FAULT"
#define CZPG_FS_TRACE_ENV "CZPG_TEST_FS_TRACE"

/* Temporary files are "<dir>/.<name>" CZPG_FS_TMP_INFIX "XXXXXX". */
#define CZPG_FS_TMP_INFIX ".tmp-"

/* Steps the test hook has counted in this process (0 when it is off). */
unsigned long czpg_fs_steps_taken(void);

/*
 * Replaces path with data[0..len) atomically and durably:
 *   1. creates "<dir>/.<name>.tmp-XXXXXX" in the same directory with
 *      O_CREAT|O_EXCL and fchmod(mode) BEFORE any byte is written (so a key
 *      is never readable by others, whatever the umask);
 *   2. writes everything, fsyncs, fchowns to uid/gid when either is not
 *      CZPG_FS_KEEP_OWNER (-1);
 *   3. renames over path and fsyncs the directory.
 * Returns 0 on success.  On any failure returns -1, path is untouched (old
 * content or still absent) and the temporary file has been removed -- except
 * when only the last step (the directory sync) failed: then the new content
 * is in place and err says so.  mode is masked with 07777.  path's directory
 * must exist.  When path is a symbolic link, the file it resolves to is
 * replaced (its directory holds the temporary file) and the link is kept.
 */
int czpg_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, long uid,
			 long gid, char *err, size_t errlen);

/*
 * czpg_fs_write_atomic, except that a symbolic link at path is itself
 * replaced by the new file (nothing it points at changes).
 */
int czpg_fs_replace_atomic(const char *path, const void *data, size_t len, mode_t mode, long uid,
			   long gid, char *err, size_t errlen);

/*
 * Where a write to path lands: 1 and the resolved target (absolute, every
 * link followed) in out when path is a symbolic link; 0 and path itself
 * when it is not (or does not exist); -1 when it is a link that cannot be
 * followed (dangling, a loop), with err naming the link and its target.
 */
int czpg_fs_resolve_link(const char *path, char *out, size_t outlen, char *err, size_t errlen);

/*
 * Makes linkpath a symbolic link to target atomically and durably: a
 * temporary link "<dir>/.<name>.tmp-XXXXXX", renamed over linkpath (which
 * may be a file or a link; a reader sees the old one or the new one), then
 * the directory synced.  target is stored as given (relative targets resolve
 * from linkpath's directory).  0, or -1 with linkpath untouched.
 */
int czpg_fs_symlink_atomic(const char *target, const char *linkpath, char *err, size_t errlen);

/*
 * Removes the file or symbolic link path (never what a link points at) and
 * syncs its directory.  0, also when path was already gone; -1 on error.
 */
int czpg_fs_remove(const char *path, char *err, size_t errlen);

/*
 * Creates the directory path (its parent must exist) with mode and owner
 * (CZPG_FS_KEEP_OWNER leaves it as created), owner set before the mode, and
 * syncs the parent.  0 when created, 1 when it already was a directory
 * (left as it is), -1 on error (nothing created).
 */
int czpg_fs_mkdir_owned(const char *path, mode_t mode, long uid, long gid, char *err,
			size_t errlen);

/* Removes the empty directory path (0 also when already gone) and syncs its parent.  0 or -1. */
int czpg_fs_rmdir(const char *path, char *err, size_t errlen);

/*
 * Removes what interrupted czpg_fs_write_atomic / czpg_fs_symlink_atomic
 * calls left in dir: ".<name>.tmp-XXXXXX" files and links whose <name>
 * managed() accepts (every name when managed is NULL).  The paths removed
 * are listed, comma-separated, in removed (may be NULL).  Returns how many
 * were removed (0 also when dir does not exist), or -1 with err.
 */
int czpg_fs_remove_stale_temps(const char *dir, bool (*managed)(const char *name, void *arg),
			       void *arg, char *removed, size_t removedlen, char *err,
			       size_t errlen);

/*
 * The exclusive lock of one provision run: flock(LOCK_EX) on path (created
 * 0600 when missing, never a symbolic link), tried every 100 ms for up to
 * wait_ms.  Returns 0 with *fd holding the lock (the holder's pid is written
 * into the file), 1 when another process still holds it after wait_ms
 * (*holder: the pid in the file, 0 when unknown), -1 on error.
 */
int czpg_fs_lock_acquire(const char *path, unsigned wait_ms, int *fd, long *holder, char *err,
			 size_t errlen);
/* Releases a lock from czpg_fs_lock_acquire (fd < 0: nothing). */
void czpg_fs_lock_release(int fd);
/*
 * Releases the lock and removes its file, for a run that leaves nothing
 * behind (it made the directory the lock is in).  Safe against a waiting
 * run: czpg_fs_lock_acquire checks that the file it locked is still the one
 * path names.
 */
void czpg_fs_lock_discard(const char *path, int fd);
/*
 * Whether a process holds the lock on path now, without waiting or creating
 * it: 1 (and *holder, 0 when unknown) or 0 (free, or no lock file).
 */
int czpg_fs_lock_probe(const char *path, long *holder);

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
