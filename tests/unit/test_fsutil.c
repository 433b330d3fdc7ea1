/*
 * test_fsutil.c - atomic writes (mode, owner, failure leaves the target
 * alone, no temporary files left, written through symbolic links), atomic
 * links, removal of stale temporary files, the lock, the fault-injection
 * hook, bounded reads, directory helpers and the unified diff (GNU diff -u
 * format).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "czpg/fsutil.h"

struct fx {
	char dir[64];
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/czpg-fsutil-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	chmod(f->dir, 0700);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static char *path_in(const struct fx *f, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
	return p;
}

static void write_plain(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* The file's whole content as a NUL-terminated string (test helper). */
static char *slurp(const char *path)
{
	uint8_t *d = NULL;
	size_t n = 0;
	char err[256];

	assert_int_equal(czpg_fs_read_file(path, 1 << 20, &d, &n, err, sizeof(err)), 0);
	return (char *)d;
}

/* Number of entries in dir other than . and .. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static const struct passwd *pg_user(void)
{
	return getpwnam("postgres");
}

/* Runs fn in a child as the postgres user; returns the child's exit code. */
static int run_as_postgres(int (*fn)(void *), void *arg)
{
	const struct passwd *pw = pg_user();
	pid_t pid;
	int status = 0;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
			_exit(99);
		_exit(fn(arg));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* --- write_atomic ---------------------------------------------------- */

static void test_write_new_file_mode_and_content(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "server.key");
	char err[256] = "";
	static const mode_t modes[] = {0600, 0640, 0644, 0400};
	static const mode_t masks[] = {0, 022, 077, 0777};
	size_t i, j;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		for (j = 0; j < sizeof(masks) / sizeof(masks[0]); j++) {
			mode_t old = umask(masks[j]);
			char *got;

			unlink(p);
			assert_int_equal(czpg_fs_write_atomic(p, "secret\n", 7, modes[i],
							      CZPG_FS_KEEP_OWNER,
							      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
					 0);
			umask(old);
			assert_int_equal(mode_of(p), modes[i]);
			got = slurp(p);
			assert_string_equal(got, "secret\n");
			free(got);
			assert_int_equal(count_entries(f->dir), 1);
		}
	}
	free(p);
}

static void test_write_replaces_and_resets_mode(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "cz-tls.conf");
	char err[256] = "";
	char *got;
	struct stat before, after;

	write_plain(p, "old content that is longer than the new\n", 0666);
	assert_int_equal(stat(p, &before), 0);
	assert_int_equal(czpg_fs_write_atomic(p, "new\n", 4, 0644, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 0);
	got = slurp(p);
	assert_string_equal(got, "new\n");
	free(got);
	assert_int_equal(mode_of(p), 0644);
	/* a new inode took the name: readers of the old one never saw a mix */
	assert_int_equal(stat(p, &after), 0);
	assert_int_not_equal(before.st_ino, after.st_ino);
	assert_int_equal(count_entries(f->dir), 1);

	/* empty content is a valid file */
	assert_int_equal(czpg_fs_write_atomic(p, NULL, 0, 0600, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 0);
	got = slurp(p);
	assert_string_equal(got, "");
	free(got);
	free(p);
}

static void test_write_missing_dir_fails_cleanly(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "nope/server.crt");
	char err[256] = "";

	assert_int_equal(czpg_fs_write_atomic(p, "x", 1, 0644, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nope"));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_int_equal(count_entries(f->dir), 0);
	free(p);
}

static void test_write_over_directory_fails_cleanly(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "isdir");
	char err[256] = "";

	assert_int_equal(mkdir(p, 0755), 0);
	/* the temporary file is written, then rename fails: it must be removed */
	assert_int_equal(czpg_fs_write_atomic(p, "x", 1, 0644, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, p));
	assert_int_equal(count_entries(f->dir), 1);
	assert_int_equal(count_entries(p), 0);
	free(p);
}

struct child_write {
	const char *path;
	const char *data;
	size_t len;
	char err[256];
};

static int child_write(void *arg)
{
	struct child_write *c = arg;

	return czpg_fs_write_atomic(c->path, c->data, c->len, 0600, CZPG_FS_KEEP_OWNER,
				    CZPG_FS_KEEP_OWNER, c->err, sizeof(c->err)) == -1 &&
		       strstr(c->err, strerror(EACCES)) != NULL
		   ? 0
		   : 1;
}

static void test_write_unwritable_dir_leaves_target(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "pg_hba.conf");
	struct child_write c;
	char *got;

	if (geteuid() != 0 || pg_user() == NULL)
		skip();
	write_plain(p, "host all all 0.0.0.0/0 md5\n", 0644);
	assert_int_equal(chmod(f->dir, 0755), 0); /* root's directory, others may not write */
	memset(&c, 0, sizeof(c));
	c.path = p;
	c.data = "hostssl all all 0.0.0.0/0 scram-sha-256\n";
	c.len = strlen(c.data);
	assert_int_equal(run_as_postgres(child_write, &c), 0);
	got = slurp(p);
	assert_string_equal(got, "host all all 0.0.0.0/0 md5\n");
	free(got);
	assert_int_equal(count_entries(f->dir), 1);
	free(p);
}

/* In a child: a file-size limit makes the write itself fail half-way. */
static void test_write_fails_midway_leaves_target(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "big.conf");
	pid_t pid;
	int status = 0;
	char *got;

	write_plain(p, "original\n", 0644);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {.rlim_cur = 100, .rlim_max = 100};
		static char big[4096];
		char err[256] = "";

		memset(big, 'x', sizeof(big));
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(2);
		if (czpg_fs_write_atomic(p, big, sizeof(big), 0644, CZPG_FS_KEEP_OWNER,
					 CZPG_FS_KEEP_OWNER, err, sizeof(err)) != -1)
			_exit(3);
		_exit(strstr(err, strerror(EFBIG)) != NULL && strstr(err, p) != NULL ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	got = slurp(p);
	assert_string_equal(got, "original\n");
	free(got);
	assert_int_equal(count_entries(f->dir), 1);
	free(p);
}

static void test_write_chown(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "server.key");
	const struct passwd *pw = pg_user();
	char err[256] = "";
	struct stat st;
	mode_t old;

	if (geteuid() != 0 || pw == NULL)
		skip();
	old = umask(077);
	assert_int_equal(czpg_fs_write_atomic(p, "k", 1, 0600, (long)pw->pw_uid, (long)pw->pw_gid,
					      err, sizeof(err)),
			 0);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, pw->pw_uid);
	assert_int_equal(st.st_gid, pw->pw_gid);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* root owner, database group (the 0640 layout) */
	assert_int_equal(
	    czpg_fs_write_atomic(p, "k", 1, 0640, 0, (long)pw->pw_gid, err, sizeof(err)), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, pw->pw_gid);
	assert_int_equal(st.st_mode & 07777, 0640);

	/* -1: left as created (by us, root) */
	assert_int_equal(czpg_fs_write_atomic(p, "k", 1, 0600, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_gid, getegid());
	assert_int_equal(count_entries(f->dir), 1);
	free(p);
}

/* --- read, hash, info ----------------------------------------------- */

static int child_read(void *arg)
{
	const char *path = arg;
	uint8_t *d = NULL;
	size_t n = 0;
	char err[256] = "";
	int rc = czpg_fs_read_file(path, 1024, &d, &n, err, sizeof(err));

	free(d);
	return rc == -1 && d == NULL && strstr(err, strerror(EACCES)) != NULL ? 0 : 1;
}

/* A symbolic link is written through: the target changes, the link stays a link. */
static void test_write_through_symlink(void **state)
{
	struct fx *f = *state;
	char *target = path_in(f, "real-hba.conf"), *link = path_in(f, "pg_hba.conf");
	char resolved[4096], *got, err[256];
	struct stat st;

	write_plain(target, "old\n", 0640);
	assert_int_equal(symlink("real-hba.conf", link), 0);
	assert_int_equal(czpg_fs_resolve_link(link, resolved, sizeof(resolved), err, sizeof(err)),
			 1);
	assert_non_null(strstr(resolved, "/real-hba.conf"));
	assert_int_equal(czpg_fs_write_atomic(link, "new\n", 4, 0640, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	got = slurp(target);
	assert_string_equal(got, "new\n");
	free(got);
	assert_int_equal(count_entries(f->dir), 2); /* no temporary file left */
	/* czpg_fs_replace_atomic replaces the link itself */
	assert_int_equal(czpg_fs_replace_atomic(link, "file\n", 5, 0644, CZPG_FS_KEEP_OWNER,
						CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	got = slurp(target);
	assert_string_equal(got, "new\n");
	free(got);
	/* a dangling link is refused, naming it and its target */
	unlink(link);
	assert_int_equal(symlink("gone.conf", link), 0);
	assert_int_equal(czpg_fs_write_atomic(link, "x", 1, 0644, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "is a symbolic link to gone.conf"));
	free(target);
	free(link);
}

/* Where the symbolic link path points ("" when it is none). */
static void assert_link_to(const char *path, const char *want)
{
	char t[256];
	ssize_t n = readlink(path, t, sizeof(t) - 1);

	t[n > 0 ? n : 0] = '\0';
	assert_string_equal(t, want);
}

static void test_symlink_remove_mkdir(void **state)
{
	struct fx *f = *state;
	char *link = path_in(f, "server.crt"), *sub = path_in(f, "conf.d"), err[256];
	struct stat st;

	write_plain(link, "a regular file of an earlier layout\n", 0644);
	assert_int_equal(czpg_fs_symlink_atomic("server-01.crt", link, err, sizeof(err)), 0);
	assert_link_to(link, "server-01.crt");
	assert_int_equal(czpg_fs_symlink_atomic("server-02.crt", link, err, sizeof(err)), 0);
	assert_link_to(link, "server-02.crt");
	assert_int_equal(count_entries(f->dir), 1);
	/* removing a link removes the link (dangling or not), and a second time is fine */
	assert_int_equal(czpg_fs_remove(link, err, sizeof(err)), 0);
	assert_int_equal(lstat(link, &st), -1);
	assert_int_equal(czpg_fs_remove(link, err, sizeof(err)), 0);
	/* an owned directory: created 0, there already 1, not a directory -1 */
	assert_int_equal(
	    czpg_fs_mkdir_owned(sub, 0700, (long)geteuid(), (long)getegid(), err, sizeof(err)), 0);
	assert_int_equal(mode_of(sub), 0700);
	assert_int_equal(czpg_fs_mkdir_owned(sub, 0700, -1, -1, err, sizeof(err)), 1);
	assert_int_equal(czpg_fs_rmdir(sub, err, sizeof(err)), 0);
	assert_int_equal(czpg_fs_rmdir(sub, err, sizeof(err)), 0);
	write_plain(sub, "x", 0644);
	assert_int_equal(czpg_fs_mkdir_owned(sub, 0700, -1, -1, err, sizeof(err)), -1);
	free(link);
	free(sub);
}

static bool only_hba(const char *name, void *arg)
{
	(void)arg;
	return strcmp(name, "pg_hba.conf") == 0;
}

/* What an interrupted write leaves is found by its name and removed; nothing else is. */
static void test_remove_stale_temps(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {".pg_hba.conf.tmp-AbC123", ".server.key.tmp-Zz9Zz9",
					    ".pg_hba.conf.tmp-short",  "pg_hba.conf.tmp-AbC123",
					    ".pg_hba.conf.tmp-AbC12!", "keep.conf"};
	char removed[1024], err[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = path_in(f, names[i]);

		write_plain(p, "x", 0600);
		free(p);
	}
	assert_int_equal(czpg_fs_remove_stale_temps(f->dir, only_hba, NULL, removed,
						    sizeof(removed), err, sizeof(err)),
			 1);
	assert_non_null(strstr(removed, ".pg_hba.conf.tmp-AbC123"));
	assert_int_equal(count_entries(f->dir), 5);
	assert_int_equal(czpg_fs_remove_stale_temps(f->dir, NULL, NULL, removed, sizeof(removed),
						    err, sizeof(err)),
			 1);
	assert_non_null(strstr(removed, ".server.key.tmp-Zz9Zz9"));
	assert_int_equal(count_entries(f->dir), 4);
	assert_int_equal(czpg_fs_remove_stale_temps("/nonexistent/dir", NULL, NULL, removed,
						    sizeof(removed), err, sizeof(err)),
			 0);
}

/* One holder at a time; the one that waits learns who holds it. */
static void test_lock(void **state)
{
	struct fx *f = *state;
	char *lock = path_in(f, ".cz-provision.lock"), err[256];
	long holder = 0;
	int fd = -1, status = 0;
	pid_t pid;

	assert_int_equal(czpg_fs_lock_probe(lock, &holder), 0);
	assert_int_equal(czpg_fs_lock_acquire(lock, 0, &fd, &holder, err, sizeof(err)), 0);
	assert_true(fd >= 0);
	assert_int_equal(mode_of(lock), 0600);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd2 = -1;
		long h = 0;

		/* flock locks belong to the open file: a child's own open does not share ours */
		if (czpg_fs_lock_acquire(lock, 300, &fd2, &h, NULL, 0) != 1)
			_exit(2);
		_exit(h == (long)getppid() ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(czpg_fs_lock_probe(lock, &holder), 1);
	assert_int_equal(holder, (long)getpid());
	/* discarded: the file goes, and the next run takes a lock on a new one */
	czpg_fs_lock_discard(lock, fd);
	assert_int_not_equal(access(lock, F_OK), 0);
	assert_int_equal(czpg_fs_lock_acquire(lock, 0, &fd, &holder, err, sizeof(err)), 0);
	czpg_fs_lock_release(fd);
	assert_int_equal(czpg_fs_lock_probe(lock, &holder), 0);
	free(lock);
}

struct hook_arg {
	const char *path, *fault, *trace;
};

static int hook_child(void *v)
{
	const struct hook_arg *a = v;
	char err[256] = "";

	if (a->fault != NULL)
		setenv(CZPG_FS_FAULT_ENV, a->fault, 1);
	setenv(CZPG_FS_TRACE_ENV, a->trace, 1);
	if (czpg_fs_write_atomic(a->path, "new\n", 4, 0644, CZPG_FS_KEEP_OWNER, CZPG_FS_KEEP_OWNER,
				 err, sizeof(err)) == 0)
		return a->fault == NULL ? 0 : 10;
	return strstr(err, strerror(EIO)) != NULL ? 20 : 30;
}

/* The test hook: every step numbered and traced; a fault at step N fails it cleanly. */
static void test_fault_hook(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "cz-tls.conf"), *trace = path_in(f, "trace"), *got;
	struct hook_arg a = {p, NULL, trace};
	pid_t pid;
	int status = 0, n;

	write_plain(p, "old\n", 0644);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(hook_child(&a));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	got = slurp(trace);
	assert_non_null(strstr(got, "1 create "));
	assert_non_null(strstr(got, "2 write "));
	assert_non_null(strstr(got, "3 fsync "));
	assert_non_null(strstr(got, "4 rename "));
	assert_non_null(strstr(got, "5 syncdir "));
	free(got);
	/* Each of the five fails the write; the target keeps its content, no temporary remains. */
	for (n = 1; n <= 5; n++) {
		char fault[16];

		write_plain(p, "old\n", 0644);
		unlink(trace);
		snprintf(fault, sizeof(fault), "%d:fail", n);
		a.fault = fault;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(hook_child(&a));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_int_equal(WEXITSTATUS(status), 20);
		got = slurp(p);
		/* a failed directory sync is the one step after which the new content is in place
		 */
		assert_string_equal(got, n == 5 ? "new\n" : "old\n");
		free(got);
		assert_int_equal(count_entries(f->dir), 2);
	}
	/* kill: the process dies before the step, as SIGKILL */
	a.fault = "4:kill";
	write_plain(p, "old\n", 0644);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(hook_child(&a));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	got = slurp(p);
	assert_string_equal(got, "old\n");
	free(got);
	assert_int_equal(count_entries(f->dir), 3); /* the temporary file a kill leaves */
	free(p);
	free(trace);
}

static void test_read_file(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "a.txt");
	char *missing = path_in(f, "missing.txt");
	char *under_file = path_in(f, "a.txt/x");
	uint8_t *d = NULL;
	size_t n = 99;
	char err[256] = "";

	write_plain(p, "hello\nworld", 0600);
	assert_int_equal(czpg_fs_read_file(p, 11, &d, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(d, "hello\nworld", 11);
	assert_int_equal(d[11], 0);
	free(d);

	/* one byte over the limit */
	assert_int_equal(czpg_fs_read_file(p, 10, &d, &n, err, sizeof(err)), -1);
	assert_null(d);
	assert_non_null(strstr(err, p));

	assert_int_equal(czpg_fs_read_file(missing, 10, &d, &n, err, sizeof(err)), 1);
	assert_null(d);
	assert_non_null(strstr(err, missing));
	assert_int_equal(czpg_fs_read_file(under_file, 10, &d, &n, err, sizeof(err)), 1);

	assert_int_equal(czpg_fs_read_file(f->dir, 10, &d, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));

	if (geteuid() == 0 && pg_user() != NULL) {
		assert_int_equal(chmod(f->dir, 0755), 0);
		assert_int_equal(run_as_postgres(child_read, p), 0);
	}
	free(p);
	free(missing);
	free(under_file);
}

static void test_sha256_file(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "abc");
	char *missing = path_in(f, "missing");
	uint8_t got[32], want[32];
	char err[256];
	static char big[100000];
	/* FIPS 180-2 test vector: SHA-256("abc") */
	static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
					0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
					0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
					0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	size_t i;

	write_plain(p, "abc", 0644);
	assert_int_equal(czpg_fs_sha256_file(p, got, err, sizeof(err)), 0);
	assert_memory_equal(got, abc, 32);

	/* larger than one read chunk: matches a one-shot digest */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(czpg_fs_write_atomic(p, big, sizeof(big), 0644, CZPG_FS_KEEP_OWNER,
					      CZPG_FS_KEEP_OWNER, err, sizeof(err)),
			 0);
	assert_int_equal(EVP_Digest(big, sizeof(big), want, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(czpg_fs_sha256_file(p, got, err, sizeof(err)), 0);
	assert_memory_equal(got, want, 32);

	assert_int_equal(czpg_fs_sha256_file(missing, got, err, sizeof(err)), 1);
	free(p);
	free(missing);
}

static void test_file_info(void **state)
{
	struct fx *f = *state;
	char *p = path_in(f, "k");
	char *missing = path_in(f, "missing");
	struct czpg_fs_info fi;
	char err[256];

	write_plain(p, "12345", 0640);
	assert_int_equal(czpg_fs_file_info(p, &fi, err, sizeof(err)), 0);
	assert_true(fi.exists);
	assert_true(fi.is_regular);
	assert_false(fi.is_dir);
	assert_int_equal(fi.mode, 0640);
	assert_int_equal(fi.uid, geteuid());
	assert_int_equal(fi.gid, getegid());
	assert_int_equal(fi.size, 5);

	assert_int_equal(czpg_fs_file_info(f->dir, &fi, err, sizeof(err)), 0);
	assert_true(fi.is_dir);
	assert_false(fi.is_regular);

	assert_int_equal(czpg_fs_file_info(missing, &fi, err, sizeof(err)), 0);
	assert_false(fi.exists);
	free(p);
	free(missing);
}

/* --- directories ----------------------------------------------------- */

static void test_mkdir_p(void **state)
{
	struct fx *f = *state;
	char *deep = path_in(f, "a/b//c/");
	char *a = path_in(f, "a");
	char *c = path_in(f, "a/b/c");
	char *file = path_in(f, "file");
	char *under = path_in(f, "file/x");
	char err[256] = "";
	mode_t old;

	old = umask(077);
	assert_int_equal(czpg_fs_mkdir_p(deep, 0755, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(mode_of(a), 0755);
	assert_int_equal(mode_of(c), 0755);
	/* existing directories are left as they are */
	assert_int_equal(chmod(a, 0700), 0);
	assert_int_equal(czpg_fs_mkdir_p(c, 0755, err, sizeof(err)), 0);
	assert_int_equal(mode_of(a), 0700);

	write_plain(file, "", 0644);
	assert_int_equal(czpg_fs_mkdir_p(under, 0755, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
	assert_int_equal(czpg_fs_mkdir_p(file, 0755, err, sizeof(err)), -1);
	free(deep);
	free(a);
	free(c);
	free(file);
	free(under);
}

static int child_check_dir(void *arg)
{
	char err[256] = "";

	return czpg_fs_check_writable_dir(arg, err, sizeof(err)) == -1 &&
		       strstr(err, strerror(EACCES)) != NULL
		   ? 0
		   : 1;
}

static void test_check_writable_dir(void **state)
{
	struct fx *f = *state;
	char *missing = path_in(f, "x/y/z");
	char *file = path_in(f, "file");
	char *under = path_in(f, "file/sub");
	char err[256] = "";
	int before;

	assert_int_equal(czpg_fs_check_writable_dir(f->dir, err, sizeof(err)), 0);
	assert_int_equal(czpg_fs_check_writable_dir(missing, err, sizeof(err)), 1);
	write_plain(file, "", 0644);
	before = count_entries(f->dir);
	assert_int_equal(czpg_fs_check_writable_dir(file, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
	assert_int_equal(czpg_fs_check_writable_dir(under, err, sizeof(err)), -1);
	assert_int_equal(czpg_fs_check_writable_dir("", err, sizeof(err)), -1);
	/* it writes nothing */
	assert_int_equal(count_entries(f->dir), before);

	if (geteuid() == 0 && pg_user() != NULL) {
		assert_int_equal(chmod(f->dir, 0755), 0);
		assert_int_equal(run_as_postgres(child_check_dir, f->dir), 0);
		assert_int_equal(run_as_postgres(child_check_dir, missing), 0);
	}
	free(missing);
	free(file);
	free(under);
}

/* --- unified diff ---------------------------------------------------- */

/* Runs the diff and returns it as a string ("" when identical); rc in *rc. */
static char *udiff(const char *a, const char *b, int *rc)
{
	struct czpg_wbuf w;
	char *s;

	czpg_wbuf_init(&w, 0);
	*rc = czpg_fs_unified_diff(a, strlen(a), b, strlen(b), "a/f", "b/f", &w);
	s = calloc(1, w.len + 1);
	assert_non_null(s);
	if (w.len > 0)
		memcpy(s, w.data, w.len);
	czpg_wbuf_free(&w);
	return s;
}

static void expect_diff(const char *a, const char *b, const char *want)
{
	int rc;
	char *got = udiff(a, b, &rc);

	assert_int_equal(rc, want[0] != '\0' ? 1 : 0);
	assert_string_equal(got, want);
	free(got);
}

#define BASE "a\nb\nc\nd\ne\nf\ng\nh\n"

static void test_diff_identical_and_empty(void **state)
{
	(void)state;
	expect_diff("", "", "");
	expect_diff(BASE, BASE, "");
	expect_diff("no newline", "no newline", "");
	expect_diff("", "a\nb\n", "--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n");
	expect_diff("a\nb\n", "", "--- a/f\n+++ b/f\n@@ -1,2 +0,0 @@\n-a\n-b\n");
	expect_diff("", "x\n", "--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+x\n");
}

static void test_diff_insert_delete_change(void **state)
{
	(void)state;
	expect_diff(BASE, "a\nb\nc\nX\nd\ne\nf\ng\nh\n",
		    "--- a/f\n+++ b/f\n@@ -1,6 +1,7 @@\n a\n b\n c\n+X\n d\n e\n f\n");
	expect_diff(BASE, "a\nb\nc\ne\nf\ng\nh\n",
		    "--- a/f\n+++ b/f\n@@ -1,7 +1,6 @@\n a\n b\n c\n-d\n e\n f\n g\n");
	expect_diff(BASE, "a\nb\nc\nD\ne\nf\ng\nh\n",
		    "--- a/f\n+++ b/f\n@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n");
	/* first and last lines: context is cut at the file's edges */
	expect_diff(BASE, "A\nb\nc\nd\ne\nf\ng\nh\n",
		    "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n d\n");
	expect_diff(BASE, BASE "i\n", "--- a/f\n+++ b/f\n@@ -6,3 +6,4 @@\n f\n g\n h\n+i\n");
	/* a change block shows all removals before all additions */
	expect_diff("k\n1\n2\nk\n", "k\nx\ny\nz\nk\n",
		    "--- a/f\n+++ b/f\n@@ -1,4 +1,5 @@\n k\n-1\n-2\n+x\n+y\n+z\n k\n");
}

static void test_diff_no_newline_at_end(void **state)
{
	(void)state;
	expect_diff("a\nb", "a\nb\n",
		    "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
		    "+b\n");
	expect_diff(
	    "a\nb\n", "a\nb",
	    "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n");
	expect_diff("a\nb", "a\nc",
		    "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
		    "+c\n\\ No newline at end of file\n");
}

static void test_diff_hunk_merging(void **state)
{
	const char *s1 = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n";
	(void)state;
	/* changes at 2 and 9: 6 equal lines between, context touches: one hunk */
	expect_diff(s1, "1\ntwo\n3\n4\n5\n6\n7\n8\nnine\n10\n11\n12\n13\n14\n15\n",
		    "--- a/f\n+++ b/f\n@@ -1,12 +1,12 @@\n 1\n-2\n+two\n 3\n 4\n 5\n 6\n 7\n 8\n"
		    "-9\n+nine\n 10\n 11\n 12\n");
	/* changes at 2 and 10: 7 equal lines between: two hunks */
	expect_diff(s1, "1\ntwo\n3\n4\n5\n6\n7\n8\n9\nten\n11\n12\n13\n14\n15\n",
		    "--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"
		    "@@ -7,7 +7,7 @@\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n");
	/* a deletion and a later insertion shift the second hunk's new start */
	expect_diff(s1, "1\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\nnew\n13\n14\n15\n",
		    "--- a/f\n+++ b/f\n@@ -1,5 +1,4 @@\n 1\n-2\n 3\n 4\n 5\n"
		    "@@ -10,6 +9,7 @@\n 10\n 11\n 12\n+new\n 13\n 14\n 15\n");
}

/* Length of the line at p, with its '\n' when it has one. */
static size_t line_len(const char *p)
{
	const char *e = strchr(p, '\n');

	return e != NULL ? (size_t)(e + 1 - p) : strlen(p);
}

/* Applies a unified diff to old (test oracle); returns the result or NULL. */
static char *apply_patch(const char *old, const char *patch)
{
	struct czpg_wbuf out;
	const char *lines[8192];
	size_t nold = 0, pos = 0;
	const char *p = old, *q;
	char *res;

	while (*p != '\0' && nold < 8192) {
		lines[nold++] = p;
		q = strchr(p, '\n');
		p = q != NULL ? q + 1 : p + strlen(p);
	}
	czpg_wbuf_init(&out, 0);
	p = strstr(patch, "\n+++ ");
	if (p == NULL)
		return NULL;
	p = strchr(p + 1, '\n') + 1;
	while (*p != '\0') {
		unsigned long os, oc = 1;
		const char *eol = strchr(p, '\n');

		if (eol == NULL || sscanf(p, "@@ -%lu", &os) != 1)
			return NULL;
		if (sscanf(p, "@@ -%lu,%lu", &os, &oc) != 2)
			oc = 1;
		if (oc == 0)
			os++; /* "-N,0" names the line before */
		while (pos + 1 < os && pos < nold) {
			czpg_wbuf_bytes(&out, lines[pos], line_len(lines[pos]));
			pos++;
		}
		p = eol + 1;
		while (*p == ' ' || *p == '-' || *p == '+' || *p == '\\') {
			const char *e = strchr(p, '\n');
			size_t len = (size_t)(e - p); /* without '\n' */
			bool nonl = strncmp(e + 1, "\\ No newline", 12) == 0;

			if (*p == '\\') {
				p = e + 1;
				continue;
			}
			if (*p == ' ' || *p == '+')
				czpg_wbuf_bytes(&out, p + 1, len - 1 + (nonl ? 0 : 1));
			if (*p == ' ' || *p == '-')
				pos++;
			p = e + 1;
		}
	}
	while (pos < nold) {
		czpg_wbuf_bytes(&out, lines[pos], line_len(lines[pos]));
		pos++;
	}
	res = calloc(1, out.len + 1);
	if (out.len > 0)
		memcpy(res, out.data, out.len);
	czpg_wbuf_free(&out);
	return res;
}

static void random_text(char *buf, size_t cap, unsigned *seed)
{
	size_t n = (size_t)(rand_r(seed) % 25), i, used = 0;

	for (i = 0; i < n && used + 3 < cap; i++) {
		buf[used++] = (char)('a' + rand_r(seed) % 4);
		buf[used++] = '\n';
	}
	if (used > 0 && rand_r(seed) % 5 == 0)
		used--; /* no newline at the end */
	buf[used] = '\0';
}

/* Number of '-' plus '+' lines in a unified diff. */
static int changed_lines(const char *d)
{
	const char *p = strstr(d, "\n+++ ");
	int n = 0;

	if (p == NULL)
		return 0;
	p = strchr(p + 1, '\n');
	while (p != NULL && p[1] != '\0') {
		if (p[1] == '-' || p[1] == '+')
			n++;
		p = strchr(p + 1, '\n');
	}
	return n;
}

static int gnu_changed_lines(const char *dir, const char *a, const char *b)
{
	char pa[128], pb[128], cmd[400], line[256];
	FILE *fp;
	int n = 0, k = 0;

	snprintf(pa, sizeof(pa), "%s/ra", dir);
	snprintf(pb, sizeof(pb), "%s/rb", dir);
	write_plain(pa, a, 0644);
	write_plain(pb, b, 0644);
	snprintf(cmd, sizeof(cmd), "diff --minimal -u %s %s", pa, pb);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (k++ >= 2 && (line[0] == '-' || line[0] == '+'))
			n++;
	}
	pclose(fp);
	return n;
}

/*
 * Random inputs: applying our diff to old gives new, and the diff is as
 * small as GNU diff --minimal's (when that program is installed).
 */
static void test_diff_random_roundtrip(void **state)
{
	struct fx *f = *state;
	unsigned seed = 12345;
	bool have_gnu = access("/usr/bin/diff", X_OK) == 0;
	int i;

	for (i = 0; i < 300; i++) {
		char a[128], b[128];
		char *d, *patched;
		int rc;

		random_text(a, sizeof(a), &seed);
		random_text(b, sizeof(b), &seed);
		d = udiff(a, b, &rc);
		if (strcmp(a, b) == 0) {
			assert_int_equal(rc, 0);
			free(d);
			continue;
		}
		assert_int_equal(rc, 1);
		patched = apply_patch(a, d);
		assert_non_null(patched);
		assert_string_equal(patched, b);
		if (have_gnu && i < 100)
			assert_int_equal(changed_lines(d), gnu_changed_lines(f->dir, a, b));
		free(patched);
		free(d);
	}
}

static void test_diff_limits(void **state)
{
	struct czpg_wbuf w;
	size_t n = CZPG_FS_DIFF_MAX_LINES + 1, i;
	char *big = malloc(n * 2);

	(void)state;
	assert_non_null(big);
	for (i = 0; i < n; i++) {
		big[2 * i] = 'x';
		big[2 * i + 1] = '\n';
	}
	czpg_wbuf_init(&w, 0);
	assert_int_equal(czpg_fs_unified_diff(big, n * 2, "x\n", 2, "a", "b", &w), -1);
	/* a capped output buffer that is too small */
	czpg_wbuf_free(&w);
	czpg_wbuf_init(&w, 16);
	assert_int_equal(czpg_fs_unified_diff("a\n", 2, "b\n", 2, "a", "b", &w), -1);
	czpg_wbuf_free(&w);
	/* a large wholly-changed region falls back but stays correct */
	{
		size_t m = 5000;
		char *o = calloc(1, m * 2 + 1), *nw = calloc(1, m * 2 + 1), *patched, *d;
		int rc;

		assert_non_null(o);
		assert_non_null(nw);
		for (i = 0; i < m; i++) {
			o[2 * i] = (char)('a' + i % 3);
			nw[2 * i] = (char)('a' + i % 5);
			o[2 * i + 1] = nw[2 * i + 1] = '\n';
		}
		o[0] = 'z';
		d = udiff(o, nw, &rc);
		assert_int_equal(rc, 1);
		patched = apply_patch(o, d);
		assert_non_null(patched);
		assert_string_equal(patched, nw);
		free(patched);
		free(d);
		free(o);
		free(nw);
	}
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_new_file_mode_and_content, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_replaces_and_resets_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_missing_dir_fails_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_over_directory_fails_cleanly, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_write_unwritable_dir_leaves_target, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_write_fails_midway_leaves_target, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_chown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_through_symlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_remove_mkdir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_stale_temps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fault_hook, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sha256_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_writable_dir, setup, teardown),
	    cmocka_unit_test(test_diff_identical_and_empty),
	    cmocka_unit_test(test_diff_insert_delete_change),
	    cmocka_unit_test(test_diff_no_newline_at_end),
	    cmocka_unit_test(test_diff_hunk_merging),
	    cmocka_unit_test_setup_teardown(test_diff_random_roundtrip, setup, teardown),
	    cmocka_unit_test(test_diff_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
