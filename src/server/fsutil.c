/*
 * fsutil.c - durable file operations (see czpg/fsutil.h).
 *
 * The atomic write follows the POSIX rename(2) guarantee: a reader sees the
 * old file or the new one, never a mix; fsync of the file before the rename
 * and of the directory after it makes the result survive a crash.  The
 * unified diff follows GNU diffutils' "unified format" (diff -u).
 *
 * Every step that changes the file system (create, write, fsync, rename,
 * directory sync, unlink, symlink, mkdir) first passes through fs_step(), the
 * test hook of czpg/fsutil.h: it counts the steps of the process and, when
 * CZPG_TEST_FS_FAULT names one, fails it, or kills or stops the process
 * there.  Without the test variables it costs one branch.
 */
#include "czpg/fsutil.h"
#include "czpg/errf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ test hook */

static struct {
	pid_t pid;            /* the process that read the variables (a fork counts anew) */
	unsigned long count;  /* steps taken so far in this process */
	unsigned long target; /* CZPG_TEST_FS_FAULT's N; 0 = none */
	char action[16];      /* "fail", "kill", "stop" or "stop-each" */
	char trace[PATH_MAX]; /* CZPG_TEST_FS_TRACE; "" = none */
} hook;

static void hook_load(void)
{
	const char *f = getenv(CZPG_FS_FAULT_ENV), *t = getenv(CZPG_FS_TRACE_ENV);
	char *end = NULL;

	memset(&hook, 0, sizeof(hook));
	hook.pid = getpid();
	if (f != NULL) {
		unsigned long n = strtoul(f, &end, 10);

		if (end != f && *end == ':' &&
		    (strcmp(end + 1, "fail") == 0 || strcmp(end + 1, "kill") == 0 ||
		     strcmp(end + 1, "stop") == 0 || strcmp(end + 1, "stop-each") == 0)) {
			hook.target = n;
			snprintf(hook.action, sizeof(hook.action), "%s", end + 1);
		}
	}
	if (t != NULL)
		snprintf(hook.trace, sizeof(hook.trace), "%s", t);
}

/*
 * One step that changes the file system, about to happen: 0 to go on, or
 * -1 with errno EIO when the hook fails it.  "kill" and "stop" raise
 * SIGKILL / SIGSTOP here, before the step.
 */
static int fs_step(const char *op, const char *path)
{
	if (hook.pid != getpid())
		hook_load();
	if (hook.target == 0 && hook.trace[0] == '\0')
		return 0;
	hook.count++;
	if (hook.trace[0] != '\0') {
		int fd = open(hook.trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dprintf(fd, "%lu %s %s\n", hook.count, op, path);
			close(fd);
		}
	}
	/* stop-each: at step N and at every one after it, so a test can go step by step */
	if (strcmp(hook.action, "stop-each") == 0 && hook.target != 0 &&
	    hook.count >= hook.target) {
		raise(SIGSTOP);
		return 0;
	}
	if (hook.count != hook.target)
		return 0;
	if (strcmp(hook.action, "kill") == 0)
		raise(SIGKILL);
	if (strcmp(hook.action, "stop") == 0) {
		raise(SIGSTOP);
		return 0;
	}
	errno = EIO;
	return -1;
}

unsigned long czpg_fs_steps_taken(void)
{
	return hook.count;
}

/*
 * Splits path into a malloc'd directory and a pointer to the last component
 * inside path.  Returns -1 on an empty path, a path ending in '/', or
 * allocation failure.
 */
static int split_path(const char *path, char **dir, const char **base)
{
	const char *slash = strrchr(path, '/');

	*dir = NULL;
	if (path[0] == '\0' || (slash != NULL && slash[1] == '\0'))
		return -1;
	if (slash == NULL) {
		*dir = strdup(".");
		*base = path;
	} else if (slash == path) {
		*dir = strdup("/");
		*base = slash + 1;
	} else {
		*dir = strndup(path, (size_t)(slash - path));
		*base = slash + 1;
	}
	return *dir != NULL ? 0 : -1;
}

static int write_all(int fd, const uint8_t *p, size_t len, const char *path)
{
	if (fs_step("write", path) < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sync_dir(const char *dir);

/*
 * The last two steps of an atomic replacement: rename tmp over path (named
 * label in messages), then sync dir.  0, or -1 with err; *renamed says
 * whether the rename happened (the temporary name is then gone).
 */
static int rename_durably(const char *tmp, const char *path, const char *label, const char *dir,
			  bool *renamed, char *err, size_t errlen)
{
	*renamed = false;
	if (fs_step("rename", path) < 0 || rename(tmp, path) < 0) {
		czpg_errf(err, errlen, "cannot replace %s: %s", label, strerror(errno));
		return -1;
	}
	*renamed = true;
	if (sync_dir(dir) < 0) {
		czpg_errf(err, errlen,
			  "%s was replaced but its directory %s could not be synced to disk: %s",
			  label, dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* After an entry of dir changed (what: "removed", "created"): sync dir, or say why not. */
static int sync_after(const char *dir, const char *path, const char *what, char *err, size_t errlen)
{
	if (sync_dir(dir) == 0)
		return 0;
	czpg_errf(err, errlen, "%s was %s but its directory %s could not be synced to disk: %s",
		  path, what, dir, strerror(errno));
	return -1;
}

/* fsync of the directory dir (its entries: a rename or unlink is durable after it). */
static int sync_dir(const char *dir)
{
	int dfd, rc, e;

	if (fs_step("syncdir", dir) < 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	rc = fsync(dfd);
	e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int czpg_fs_resolve_link(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	struct stat st;
	char real[PATH_MAX];

	if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode)) {
		if (snprintf(out, outlen, "%s", path) >= (int)outlen) {
			czpg_errf(err, errlen, "%s: path too long", path);
			return -1;
		}
		return 0;
	}
	if (realpath(path, real) == NULL) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		target[n > 0 ? n : 0] = '\0';
		czpg_errf(err, errlen, "%s is a symbolic link to %s, which cannot be followed: %s",
			  path, target, strerror(errno));
		return -1;
	}
	if (snprintf(out, outlen, "%s", real) >= (int)outlen) {
		czpg_errf(err, errlen, "%s: path too long", real);
		return -1;
	}
	return 1;
}

/* The atomic write; through a symbolic link at path when follow, else over it. */
static int write_atomic(const char *path, bool follow, const void *data, size_t len, mode_t mode,
			long uid, long gid, char *err, size_t errlen)
{
	char *dir = NULL, *tmp = NULL, target[PATH_MAX];
	const char *base = NULL;
	int fd = -1, rc = -1;
	bool have_tmp = false, renamed;

	if (path == NULL || (data == NULL && len > 0)) {
		czpg_errf(err, errlen, "cannot write: no path or no data given");
		goto out;
	}
	/* A symbolic link is written through: its target is replaced, the link stays. */
	if (!follow) {
		if (snprintf(target, sizeof(target), "%s", path) >= (int)sizeof(target)) {
			czpg_errf(err, errlen, "%s: path too long", path);
			goto out;
		}
	} else if (czpg_fs_resolve_link(path, target, sizeof(target), err, errlen) < 0) {
		goto out;
	}
	if (split_path(target, &dir, &base) < 0) {
		czpg_errf(err, errlen, "cannot write %s: not a file path", path);
		goto out;
	}
	if (asprintf(&tmp, "%s/.%s" CZPG_FS_TMP_INFIX "XXXXXX", dir, base) < 0) {
		tmp = NULL;
		czpg_errf(err, errlen, "cannot write %s: out of memory", path);
		goto out;
	}
	/* mkostemp opens with O_CREAT|O_EXCL and mode 0600. */
	if (fs_step("create", target) < 0 || (fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		czpg_errf(err, errlen, "cannot create a temporary file in %s: %s", dir,
			  strerror(errno));
		goto out;
	}
	have_tmp = true;
	/* The final mode is in place before the first byte of content. */
	if (fchmod(fd, mode & 07777) < 0) {
		czpg_errf(err, errlen, "cannot set mode %04o on a temporary file for %s: %s",
			  (unsigned)(mode & 07777), path, strerror(errno));
		goto out;
	}
	if (write_all(fd, data, len, target) < 0) {
		czpg_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (fs_step("fsync", target) < 0 || fsync(fd) < 0) {
		czpg_errf(err, errlen, "cannot sync %s to disk: %s", path, strerror(errno));
		goto out;
	}
	if (uid != CZPG_FS_KEEP_OWNER || gid != CZPG_FS_KEEP_OWNER) {
		if (fchown(fd, (uid_t)uid, (gid_t)gid) < 0) {
			czpg_errf(err, errlen, "cannot give %s to uid %ld gid %ld: %s", path, uid,
				  gid, strerror(errno));
			goto out;
		}
		/* chown may clear set-id bits; put the requested mode back. */
		if (fchmod(fd, mode & 07777) < 0) {
			czpg_errf(err, errlen, "cannot set mode %04o on %s: %s",
				  (unsigned)(mode & 07777), path, strerror(errno));
			goto out;
		}
	}
	if (close(fd) < 0) {
		fd = -1;
		czpg_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	rc = rename_durably(tmp, target, path, dir, &renamed, err, errlen);
	have_tmp = !renamed;
out:
	if (fd >= 0)
		close(fd);
	if (have_tmp)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

int czpg_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, long uid,
			 long gid, char *err, size_t errlen)
{
	return write_atomic(path, true, data, len, mode, uid, gid, err, errlen);
}

int czpg_fs_replace_atomic(const char *path, const void *data, size_t len, mode_t mode, long uid,
			   long gid, char *err, size_t errlen)
{
	return write_atomic(path, false, data, len, mode, uid, gid, err, errlen);
}

int czpg_fs_symlink_atomic(const char *target, const char *linkpath, char *err, size_t errlen)
{
	char *dir = NULL, *tmp = NULL;
	const char *base = NULL;
	int rc = -1, tries;
	bool have_tmp = false, renamed;

	if (target == NULL || target[0] == '\0' || linkpath == NULL ||
	    split_path(linkpath, &dir, &base) < 0) {
		czpg_errf(err, errlen, "cannot make a symbolic link: no target or no link path");
		goto out;
	}
	/* symlink(2) has no O_EXCL-style temporary: pick names until one is free. */
	for (tries = 0; tries < 100 && !have_tmp; tries++) {
		static const char set[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
		unsigned char rnd[6];
		char sfx[7];
		int i;

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			czpg_errf(err, errlen, "cannot link %s: no random bytes: %s", linkpath,
				  strerror(errno));
			goto out;
		}
		for (i = 0; i < 6; i++)
			sfx[i] = set[rnd[i] % (sizeof(set) - 1)];
		sfx[6] = '\0';
		free(tmp);
		if (asprintf(&tmp, "%s/.%s" CZPG_FS_TMP_INFIX "%s", dir, base, sfx) < 0) {
			tmp = NULL;
			czpg_errf(err, errlen, "cannot link %s: out of memory", linkpath);
			goto out;
		}
		if (fs_step("symlink", linkpath) < 0) {
			czpg_errf(err, errlen, "cannot make the symbolic link %s: %s", linkpath,
				  strerror(errno));
			goto out;
		}
		if (symlink(target, tmp) == 0)
			have_tmp = true;
		else if (errno != EEXIST) {
			czpg_errf(err, errlen, "cannot make a symbolic link in %s: %s", dir,
				  strerror(errno));
			goto out;
		}
	}
	if (!have_tmp) {
		czpg_errf(err, errlen, "cannot make a symbolic link in %s: no free temporary name",
			  dir);
		goto out;
	}
	rc = rename_durably(tmp, linkpath, linkpath, dir, &renamed, err, errlen);
	have_tmp = !renamed;
out:
	if (have_tmp)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

int czpg_fs_remove(const char *path, char *err, size_t errlen)
{
	char *dir = NULL;
	const char *base = NULL;
	struct stat st;
	int rc = -1;

	if (path == NULL || split_path(path, &dir, &base) < 0) {
		czpg_errf(err, errlen, "cannot remove: not a file path");
		goto out;
	}
	if (lstat(path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR)) {
		rc = 0;
		goto out;
	}
	if (fs_step("unlink", path) < 0 || (unlink(path) < 0 && errno != ENOENT)) {
		czpg_errf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
		goto out;
	}
	rc = sync_after(dir, path, "removed", err, errlen);
out:
	free(dir);
	return rc;
}

int czpg_fs_mkdir_owned(const char *path, mode_t mode, long uid, long gid, char *err, size_t errlen)
{
	char *dir = NULL;
	const char *base = NULL;
	struct stat st;
	int rc = -1;

	if (path == NULL || split_path(path, &dir, &base) < 0) {
		czpg_errf(err, errlen, "cannot create a directory: not a path");
		goto out;
	}
	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			czpg_errf(err, errlen,
				  "cannot create directory %s: it exists and is not a "
				  "directory",
				  path);
			goto out;
		}
		rc = 1;
		goto out;
	}
	if (fs_step("mkdir", path) < 0 || mkdir(path, 0700) < 0) {
		czpg_errf(err, errlen, "cannot create directory %s: %s", path, strerror(errno));
		goto out;
	}
	/* Owner first, then the mode: nobody else can enter it in between. */
	if ((uid != CZPG_FS_KEEP_OWNER || gid != CZPG_FS_KEEP_OWNER) &&
	    chown(path, (uid_t)uid, (gid_t)gid) < 0) {
		czpg_errf(err, errlen, "cannot give directory %s to uid %ld gid %ld: %s", path, uid,
			  gid, strerror(errno));
		rmdir(path);
		goto out;
	}
	if (chmod(path, mode & 07777) < 0) {
		czpg_errf(err, errlen, "cannot set mode %04o on %s: %s", (unsigned)(mode & 07777),
			  path, strerror(errno));
		rmdir(path);
		goto out;
	}
	rc = sync_after(dir, path, "created", err, errlen);
out:
	free(dir);
	return rc;
}

int czpg_fs_rmdir(const char *path, char *err, size_t errlen)
{
	char *dir = NULL;
	const char *base = NULL;
	int rc = -1;

	if (path == NULL || split_path(path, &dir, &base) < 0) {
		czpg_errf(err, errlen, "cannot remove a directory: not a path");
		goto out;
	}
	if (fs_step("rmdir", path) < 0 ||
	    (rmdir(path) < 0 && errno != ENOENT && errno != ENOTDIR)) {
		czpg_errf(err, errlen, "cannot remove directory %s: %s", path, strerror(errno));
		goto out;
	}
	rc = sync_after(dir, path, "removed", err, errlen);
out:
	free(dir);
	return rc;
}

/* Is name ".<base>.tmp-XXXXXX" (6 characters of mkostemp's alphabet)?  base is set to it. */
static bool is_temp_name(const char *name, char *base, size_t baselen)
{
	size_t n = strlen(name), infix = sizeof(CZPG_FS_TMP_INFIX) - 1, i, blen;

	if (n < 1 + 1 + infix + 6 || name[0] != '.' ||
	    strncmp(name + n - 6 - infix, CZPG_FS_TMP_INFIX, infix) != 0)
		return false;
	for (i = n - 6; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	blen = n - 1 - infix - 6;
	if (blen + 1 > baselen)
		return false;
	memcpy(base, name + 1, blen);
	base[blen] = '\0';
	return true;
}

int czpg_fs_remove_stale_temps(const char *dir, bool (*managed)(const char *name, void *arg),
			       void *arg, char *removed, size_t removedlen, char *err,
			       size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char base[NAME_MAX + 1], path[PATH_MAX];
	int n = 0, rc = -1;

	if (removed != NULL && removedlen > 0)
		removed[0] = '\0';
	if (d == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		czpg_errf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!is_temp_name(de->d_name, base, sizeof(base)) ||
		    (managed != NULL && !managed(base, arg)))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			continue;
		if (fs_step("unlink", path) < 0 || (unlink(path) < 0 && errno != ENOENT)) {
			czpg_errf(err, errlen, "cannot remove the temporary file %s: %s", path,
				  strerror(errno));
			goto out;
		}
		if (removed != NULL && removedlen > 0) {
			size_t used = strlen(removed);

			snprintf(removed + used, removedlen - used, "%s%s", used > 0 ? ", " : "",
				 path);
		}
		n++;
	}
	if (n > 0 && sync_dir(dir) < 0) {
		czpg_errf(err, errlen, "cannot sync %s to disk: %s", dir, strerror(errno));
		goto out;
	}
	rc = n;
out:
	closedir(d);
	return rc;
}

/* ------------------------------------------------------------ the lock */

/* The pid written in the lock file, or 0 when it holds none. */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	char *end;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && pid > 0 ? pid : 0;
}

int czpg_fs_lock_acquire(const char *path, unsigned wait_ms, int *fd_out, long *holder, char *err,
			 size_t errlen)
{
	struct timespec nap = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
	unsigned waited = 0;
	int fd, rc = -1;
	char pid[32];

	*fd_out = -1;
	*holder = 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		czpg_errf(err, errlen, "cannot open the lock file %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			struct stat a, b;

			/*
			 * The holder before us may have removed the file on its way
			 * out (czpg_fs_lock_discard): a lock on that inode locks
			 * nothing.  Then take the lock on the file the path names now.
			 */
			if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
			    a.st_ino == b.st_ino)
				break;
			close(fd);
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
			if (fd < 0) {
				czpg_errf(err, errlen, "cannot open the lock file %s: %s", path,
					  strerror(errno));
				return -1;
			}
			continue;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			czpg_errf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
			goto out;
		}
		if (waited >= wait_ms) {
			*holder = lock_holder(fd);
			rc = 1;
			goto out;
		}
		nanosleep(&nap, NULL);
		waited += 100;
	}
	/* Who holds it, for the message of a run that has to wait. */
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0) {
		czpg_errf(err, errlen, "cannot write the lock file %s: %s", path, strerror(errno));
		goto out;
	}
	*fd_out = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

void czpg_fs_lock_release(int fd)
{
	if (fd < 0)
		return;
	/* The pid goes with the lock: a stale number would only mislead. */
	if (ftruncate(fd, 0) < 0) {
		/* nothing to do: closing the file releases the lock anyway */
	}
	close(fd);
}

void czpg_fs_lock_discard(const char *path, int fd)
{
	if (fd < 0)
		return;
	/* Still holding it: whoever opens the path next makes a fresh file. */
	unlink(path);
	close(fd);
}

int czpg_fs_lock_probe(const char *path, long *holder)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;

	*holder = 0;
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		*holder = lock_holder(fd);
		rc = 1;
	}
	close(fd);
	return rc;
}

int czpg_fs_read_file(const char *path, size_t max_len, uint8_t **data, size_t *len, char *err,
		      size_t errlen)
{
	int fd = -1, rc = -1;
	struct stat st;
	uint8_t *buf = NULL;
	size_t cap, used = 0;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			czpg_errf(err, errlen, "%s does not exist", path);
			rc = 1;
		} else {
			czpg_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		}
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		czpg_errf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		czpg_errf(err, errlen, "%s is not a regular file", path);
		goto out;
	}
	if ((uintmax_t)st.st_size > max_len) {
		czpg_errf(err, errlen, "%s is %jd bytes, more than the %zu allowed", path,
			  (intmax_t)st.st_size, max_len);
		goto out;
	}
	/* One spare byte: detects growth past st_size and holds the NUL. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		czpg_errf(err, errlen, "cannot read %s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (used == cap) {
			size_t ncap = cap * 2;
			uint8_t *nb;

			if (used > max_len) {
				czpg_errf(err, errlen, "%s grew past the %zu bytes allowed", path,
					  max_len);
				goto out;
			}
			nb = realloc(buf, ncap);
			if (nb == NULL) {
				czpg_errf(err, errlen, "cannot read %s: out of memory", path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			czpg_errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > max_len) {
		czpg_errf(err, errlen, "%s grew past the %zu bytes allowed", path, max_len);
		goto out;
	}
	if (used == cap) {
		uint8_t *nb = realloc(buf, cap + 1);

		if (nb == NULL) {
			czpg_errf(err, errlen, "cannot read %s: out of memory", path);
			goto out;
		}
		buf = nb;
	}
	buf[used] = '\0';
	*data = buf;
	*len = used;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

int czpg_fs_sha256_file(const char *path, uint8_t out[32], char *err, size_t errlen)
{
	int fd = -1, rc = -1;
	EVP_MD_CTX *md = NULL;
	uint8_t chunk[16384];
	unsigned int outlen = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			czpg_errf(err, errlen, "%s does not exist", path);
			rc = 1;
		} else {
			czpg_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		}
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		czpg_errf(err, errlen, "cannot hash %s: OpenSSL could not start SHA-256", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			czpg_errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1) {
			czpg_errf(err, errlen, "cannot hash %s: SHA-256 update failed", path);
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(md, out, &outlen) != 1 || outlen != 32) {
		czpg_errf(err, errlen, "cannot hash %s: SHA-256 final failed", path);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	EVP_MD_CTX_free(md);
	if (fd >= 0)
		close(fd);
	return rc;
}

int czpg_fs_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t i, n;
	int rc = -1;
	struct stat st;

	if (path == NULL || path[0] == '\0') {
		czpg_errf(err, errlen, "cannot create a directory: empty path");
		goto out;
	}
	buf = strdup(path);
	if (buf == NULL) {
		czpg_errf(err, errlen, "cannot create %s: out of memory", path);
		goto out;
	}
	n = strlen(buf);
	/* Visit each prefix that ends just before a '/', then the whole path. */
	for (i = 1; i <= n; i++) {
		if (i < n && buf[i] != '/')
			continue;
		if (i < n && buf[i - 1] == '/')
			continue; /* repeated slashes */
		buf[i] = '\0';
		if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (i < n)
				buf[i] = '/';
			continue;
		}
		if (fs_step("mkdir", buf) < 0) {
			czpg_errf(err, errlen, "cannot create directory %s: %s", buf,
				  strerror(errno));
			goto out;
		}
		if (mkdir(buf, mode & 07777) == 0) {
			if (chmod(buf, mode & 07777) < 0) {
				czpg_errf(err, errlen, "cannot set mode %04o on %s: %s",
					  (unsigned)(mode & 07777), buf, strerror(errno));
				goto out;
			}
		} else if (errno == EEXIST) {
			if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode)) {
				czpg_errf(err, errlen,
					  "cannot create %s: %s exists and is not a directory",
					  path, buf);
				goto out;
			}
		} else {
			czpg_errf(err, errlen, "cannot create directory %s: %s", buf,
				  strerror(errno));
			goto out;
		}
		if (i < n)
			buf[i] = '/';
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

int czpg_fs_check_writable_dir(const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	int rc = -1;
	bool missing = false;

	if (path == NULL || path[0] == '\0') {
		czpg_errf(err, errlen, "no directory given");
		goto out;
	}
	buf = strdup(path);
	if (buf == NULL) {
		czpg_errf(err, errlen, "cannot check %s: out of memory", path);
		goto out;
	}
	/* Walk up to the nearest existing ancestor. */
	while (stat(buf, &st) < 0) {
		char *slash;
		size_t n;

		if (errno != ENOENT) {
			czpg_errf(err, errlen, "cannot use directory %s: %s", buf, strerror(errno));
			goto out;
		}
		missing = true;
		n = strlen(buf);
		while (n > 1 && buf[n - 1] == '/')
			buf[--n] = '\0';
		slash = strrchr(buf, '/');
		if (slash == NULL) {
			strcpy(buf, ".");
		} else if (slash == buf) {
			buf[1] = '\0';
		} else {
			*slash = '\0';
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		if (missing)
			czpg_errf(err, errlen, "cannot create %s: %s is not a directory", path,
				  buf);
		else
			czpg_errf(err, errlen, "%s is not a directory", path);
		goto out;
	}
	if (faccessat(AT_FDCWD, buf, W_OK | X_OK, AT_EACCESS) < 0) {
		if (missing)
			czpg_errf(err, errlen, "cannot create %s: %s is not writable: %s", path,
				  buf, strerror(errno));
		else
			czpg_errf(err, errlen, "cannot write into %s: %s", path, strerror(errno));
		goto out;
	}
	rc = missing ? 1 : 0;
out:
	free(buf);
	return rc;
}

int czpg_fs_file_info(const char *path, struct czpg_fs_info *info, char *err, size_t errlen)
{
	struct stat st;

	memset(info, 0, sizeof(*info));
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		czpg_errf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	info->exists = true;
	info->is_regular = S_ISREG(st.st_mode);
	info->is_dir = S_ISDIR(st.st_mode);
	info->mode = st.st_mode & 07777;
	info->uid = st.st_uid;
	info->gid = st.st_gid;
	info->size = st.st_size;
	return 0;
}

/* --- unified diff ------------------------------------------------------ */

#define DIFF_CONTEXT 3
/* Largest changed region, in DP cells, solved exactly (about 8 MiB). */
#define DIFF_MAX_CELLS ((size_t)4 << 20)

struct line {
	const uint8_t *p;
	size_t len; /* includes the '\n' when there is one */
};

enum { OP_EQ, OP_DEL, OP_INS };

/*
 * One step of the edit script.  oi/ni: how many old/new lines come before
 * this step, which is also the index of the line it shows (old for EQ and
 * DEL, new for INS).
 */
struct op {
	unsigned char kind;
	size_t oi;
	size_t ni;
};

/* Splits text into lines; -1 when there are more than max lines or no memory. */
static int split_lines(const uint8_t *p, size_t len, struct line **out, size_t *n)
{
	size_t count = 0, i, start = 0, k = 0;
	struct line *v;

	*out = NULL;
	*n = 0;
	for (i = 0; i < len; i++)
		if (p[i] == '\n')
			count++;
	if (len > 0 && p[len - 1] != '\n')
		count++;
	if (count > CZPG_FS_DIFF_MAX_LINES)
		return -1;
	if (count == 0)
		return 0;
	v = calloc(count, sizeof(*v));
	if (v == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] == '\n') {
			v[k].p = p + start;
			v[k].len = i + 1 - start;
			k++;
			start = i + 1;
		}
	}
	if (start < len) {
		v[k].p = p + start;
		v[k].len = len - start;
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

static bool line_eq(const struct line *a, const struct line *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/*
 * Edit script for old[o0..o1) -> new[n0..n1) appended to ops at *nops: an
 * LCS by dynamic programming over suffixes, or delete-all/insert-all when
 * the region is too large to solve exactly.  -1 on allocation failure.
 */
static int diff_middle(const struct line *old, size_t o0, size_t o1, const struct line *new_,
		       size_t n0, size_t n1, struct op *ops, size_t *nops)
{
	size_t a = o1 - o0, b = n1 - n0, i, j;
	uint16_t *dp = NULL;

	if (a > 0 && b > 0 && (a + 1) <= DIFF_MAX_CELLS / (b + 1)) {
		size_t w = b + 1;

		dp = calloc((a + 1) * w, sizeof(*dp));
		if (dp == NULL)
			return -1;
		for (i = a; i-- > 0;) {
			for (j = b; j-- > 0;) {
				uint16_t v;

				if (line_eq(&old[o0 + i], &new_[n0 + j]))
					v = (uint16_t)(dp[(i + 1) * w + j + 1] + 1);
				else if (dp[(i + 1) * w + j] >= dp[i * w + j + 1])
					v = dp[(i + 1) * w + j];
				else
					v = dp[i * w + j + 1];
				dp[i * w + j] = v;
			}
		}
		i = 0;
		j = 0;
		while (i < a && j < b) {
			if (line_eq(&old[o0 + i], &new_[n0 + j])) {
				ops[(*nops)++] = (struct op){OP_EQ, o0 + i, n0 + j};
				i++;
				j++;
			} else if (dp[(i + 1) * w + j] >= dp[i * w + j + 1]) {
				ops[(*nops)++] = (struct op){OP_DEL, o0 + i, n0 + j};
				i++;
			} else {
				ops[(*nops)++] = (struct op){OP_INS, o0 + i, n0 + j};
				j++;
			}
		}
		free(dp);
	} else {
		i = 0;
		j = 0;
	}
	for (; i < a; i++)
		ops[(*nops)++] = (struct op){OP_DEL, o0 + i, n0 + j};
	for (; j < b; j++)
		ops[(*nops)++] = (struct op){OP_INS, o0 + i, n0 + j};
	return 0;
}

/* Within each run of changes, puts deletions before insertions (as diff -u does). */
static void order_runs(struct op *ops, size_t nops, struct op *scratch)
{
	size_t s = 0, e, k, w, o, n;

	while (s < nops) {
		if (ops[s].kind == OP_EQ) {
			s++;
			continue;
		}
		for (e = s; e < nops && ops[e].kind != OP_EQ; e++)
			;
		w = 0;
		for (k = s; k < e; k++)
			if (ops[k].kind == OP_DEL)
				scratch[w++] = ops[k];
		for (k = s; k < e; k++)
			if (ops[k].kind == OP_INS)
				scratch[w++] = ops[k];
		memcpy(&ops[s], scratch, w * sizeof(*ops));
		s = e;
	}
	/* Reordering moved lines; recount the positions each op stands at. */
	o = 0;
	n = 0;
	for (k = 0; k < nops; k++) {
		ops[k].oi = o;
		ops[k].ni = n;
		if (ops[k].kind != OP_INS)
			o++;
		if (ops[k].kind != OP_DEL)
			n++;
	}
}

static void emit_range(struct czpg_wbuf *out, char sign, size_t before, size_t count)
{
	char tmp[64];
	int n;

	if (count == 1)
		n = snprintf(tmp, sizeof(tmp), "%c%zu", sign, before + 1);
	else
		n = snprintf(tmp, sizeof(tmp), "%c%zu,%zu", sign, count > 0 ? before + 1 : before,
			     count);
	czpg_wbuf_bytes(out, tmp, (size_t)n);
}

static void emit_line(struct czpg_wbuf *out, char sign, const struct line *l)
{
	czpg_wbuf_u8(out, (uint8_t)sign);
	czpg_wbuf_bytes(out, l->p, l->len);
	if (l->len == 0 || l->p[l->len - 1] != '\n') {
		static const char nonl[] = "\n\\ No newline at end of file\n";

		czpg_wbuf_bytes(out, nonl, sizeof(nonl) - 1);
	}
}

int czpg_fs_unified_diff(const void *old, size_t oldlen, const void *new_, size_t newlen,
			 const char *old_label, const char *new_label, struct czpg_wbuf *out)
{
	struct line *ol = NULL, *nl = NULL;
	size_t on = 0, nn = 0, pre = 0, suf = 0, nops = 0, k, hs;
	struct op *ops = NULL, *scratch = NULL;
	int rc = -1;

	if (split_lines(old, oldlen, &ol, &on) < 0 || split_lines(new_, newlen, &nl, &nn) < 0)
		goto out;
	while (pre < on && pre < nn && line_eq(&ol[pre], &nl[pre]))
		pre++;
	while (suf < on - pre && suf < nn - pre && line_eq(&ol[on - 1 - suf], &nl[nn - 1 - suf]))
		suf++;
	if (pre == on && pre == nn) {
		rc = 0;
		goto out;
	}
	ops = calloc(on + nn, sizeof(*ops));
	scratch = calloc(on + nn, sizeof(*scratch));
	if (ops == NULL || scratch == NULL)
		goto out;
	for (k = 0; k < pre; k++)
		ops[nops++] = (struct op){OP_EQ, k, k};
	if (diff_middle(ol, pre, on - suf, nl, pre, nn - suf, ops, &nops) < 0)
		goto out;
	for (k = suf; k > 0; k--)
		ops[nops++] = (struct op){OP_EQ, on - k, nn - k};
	order_runs(ops, nops, scratch);

	czpg_wbuf_bytes(out, "--- ", 4);
	czpg_wbuf_bytes(out, old_label, strlen(old_label));
	czpg_wbuf_bytes(out, "\n+++ ", 5);
	czpg_wbuf_bytes(out, new_label, strlen(new_label));
	czpg_wbuf_u8(out, '\n');

	k = 0;
	while (k < nops) {
		size_t first, last, he, i, ob, nb, oc = 0, nc = 0;

		while (k < nops && ops[k].kind == OP_EQ)
			k++;
		if (k == nops)
			break;
		first = k;
		/* last change of this hunk: extend while the gap of equal lines <= 2*context */
		last = k;
		for (i = k + 1; i < nops; i++) {
			if (ops[i].kind == OP_EQ)
				continue;
			if (i - last - 1 > 2 * DIFF_CONTEXT)
				break;
			last = i;
		}
		hs = first > DIFF_CONTEXT ? first - DIFF_CONTEXT : 0;
		he = last + 1 + DIFF_CONTEXT < nops ? last + 1 + DIFF_CONTEXT : nops;
		ob = ops[hs].oi; /* lines of each side before the hunk */
		nb = ops[hs].ni;
		for (i = hs; i < he; i++) {
			if (ops[i].kind != OP_INS)
				oc++;
			if (ops[i].kind != OP_DEL)
				nc++;
		}
		czpg_wbuf_bytes(out, "@@ ", 3);
		emit_range(out, '-', ob, oc);
		czpg_wbuf_u8(out, ' ');
		emit_range(out, '+', nb, nc);
		czpg_wbuf_bytes(out, " @@\n", 4);
		for (i = hs; i < he; i++) {
			if (ops[i].kind == OP_EQ)
				emit_line(out, ' ', &ol[ops[i].oi]);
			else if (ops[i].kind == OP_DEL)
				emit_line(out, '-', &ol[ops[i].oi]);
			else
				emit_line(out, '+', &nl[ops[i].ni]);
		}
		k = he;
	}
	rc = out->err ? -1 : 1;
out:
	free(ops);
	free(scratch);
	free(ol);
	free(nl);
	return rc;
}
