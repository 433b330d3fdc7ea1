/*
 * bench_host.c - this machine's CPU accounting and pinning for the bench
 * (see bench_host.h): proc(5) for /proc/<pid>/stat, schedstat and comm;
 * sched_setaffinity(2), sched_getcpu(3), clock_gettime(2).
 */
#include "bench_host.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "czpg/errf.h"

uint64_t czpg_bench_host_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void czpg_bench_host_note_cpu(uint64_t *mask)
{
	int cpu = sched_getcpu();

	if (cpu >= 0 && cpu < 64)
		*mask |= 1ull << cpu;
}

/* Time the task has run on a CPU (ns), from /proc/<pid>/schedstat; -1 if unreadable. */
static int64_t proc_run_ns(uint32_t pid)
{
	char path[64], buf[128];
	unsigned long long run = 0;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%u/schedstat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	ok = fgets(buf, sizeof(buf), f) != NULL && sscanf(buf, "%llu", &run) == 1;
	fclose(f);
	return ok ? (int64_t)run : -1;
}

/*
 * Fields of /proc/<pid>/stat after the command: ppid (4), cutime+cstime
 * (16, 17, in clock ticks) and processor (39).  0 or -1.
 */
static int proc_stat(uint32_t pid, uint32_t *ppid, double *child_cpu_s, int *cpu)
{
	char path[64], buf[1024];
	char *p, *save = NULL, *tok;
	unsigned long long v;
	FILE *f;
	int field = 3, rc = -1;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL)
		goto out;
	p = strrchr(buf, ')'); /* the command may hold spaces */
	if (p == NULL)
		goto out;
	if (child_cpu_s != NULL)
		*child_cpu_s = 0;
	for (tok = strtok_r(p + 2, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		v = strtoull(tok, NULL, 10);
		if (field == 4 && ppid != NULL)
			*ppid = (uint32_t)v;
		if ((field == 16 || field == 17) && child_cpu_s != NULL)
			*child_cpu_s += (double)v / (double)sysconf(_SC_CLK_TCK);
		if (field == 39 && cpu != NULL)
			*cpu = (int)v;
		field++;
	}
	rc = field > 39 ? 0 : -1;
out:
	fclose(f);
	return rc;
}

/* A PostgreSQL process of this machine: /proc/<pid>/comm says postgres. */
static bool proc_is_postgres(uint32_t pid)
{
	char path[64], buf[64];
	FILE *f;
	bool yes = false;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) != NULL)
		yes = strncmp(buf, "postgres", 8) == 0;
	fclose(f);
	return yes;
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

bool czpg_bench_host_is_local_postgres(const struct sockaddr_storage *addr, uint32_t pid)
{
	return addr_is_loopback(addr) && pid != 0 && proc_is_postgres(pid);
}

bool czpg_bench_host_readable(uint32_t pid)
{
	return proc_run_ns(pid) >= 0;
}

double czpg_bench_host_run_s(const uint32_t *pids, size_t n)
{
	double sum = 0;
	int64_t ns;
	size_t i;

	for (i = 0; i < n; i++) {
		ns = proc_run_ns(pids[i]);
		if (ns < 0)
			return -1;
		sum += (double)ns / 1e9;
	}
	return sum;
}

uint32_t czpg_bench_host_postmaster(const struct sockaddr_storage *addr, uint32_t pid)
{
	uint32_t ppid = 0;

	if (czpg_bench_host_is_local_postgres(addr, pid) &&
	    proc_stat(pid, &ppid, NULL, NULL) == 0 && proc_is_postgres(ppid))
		return ppid;
	return 0;
}

double czpg_bench_host_children_s(uint32_t pid)
{
	double child;

	if (pid == 0 || proc_stat(pid, NULL, &child, NULL) < 0)
		return -1;
	return child;
}

void czpg_bench_host_note_cpus(const uint32_t *pids, size_t n, uint64_t *mask)
{
	size_t i;
	int cpu;

	for (i = 0; i < n; i++)
		if (proc_stat(pids[i], NULL, NULL, &cpu) == 0 && cpu >= 0 && cpu < 64)
			*mask |= 1ull << cpu;
}

int czpg_bench_host_pin_self(int cpu, char *err, size_t errlen)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		czpg_errf(err, errlen, "cannot pin the client to CPU %d: %s", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

int czpg_bench_host_pin(const uint32_t *pids, size_t n, int cpu, char *err, size_t errlen)
{
	cpu_set_t set;
	size_t i;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	for (i = 0; i < n; i++)
		if (sched_setaffinity((pid_t)pids[i], sizeof(set), &set) < 0) {
			czpg_errf(err, errlen, "cannot pin backend %u to CPU %d: %s", pids[i], cpu,
				  strerror(errno));
			return -1;
		}
	return 0;
}
