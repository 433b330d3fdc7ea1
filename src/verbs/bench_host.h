/*
 * bench_host.h - private to the bench: what the bench measures and sets on
 * this machine, outside the connections.  This process's CPU time
 * (CLOCK_PROCESS_CPUTIME_ID) and the CPUs it ran on, the server processes'
 * CPU time from /proc (a backend's /proc/<pid>/schedstat; a postmaster's
 * reaped-children time in /proc/<pid>/stat), and CPU pinning
 * (sched_setaffinity).  Linux only; every /proc read tolerates a process
 * that is gone or not ours.
 */
#ifndef CZPG_BENCH_HOST_H
#define CZPG_BENCH_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* This process's CPU time so far (user + system), ns. */
uint64_t czpg_bench_host_cpu_ns(void);

/* Sets the bit of the CPU this thread runs on now in *mask (CPUs 0-63). */
void czpg_bench_host_note_cpu(uint64_t *mask);

/*
 * Whether the server can be one of this machine's processes: addr is a
 * loopback address and pid's /proc/<pid>/comm says postgres.
 */
bool czpg_bench_host_is_local_postgres(const struct sockaddr_storage *addr, uint32_t pid);

/* Whether /proc/<pid>/schedstat can be read (the run time czpg_bench_host_run_s needs). */
bool czpg_bench_host_readable(uint32_t pid);

/* Sum of the run times of pids, seconds; -1 when one cannot be read. */
double czpg_bench_host_run_s(const uint32_t *pids, size_t n);

/*
 * The postmaster of backend pid when both run on this machine (see
 * czpg_bench_host_is_local_postgres), else 0.
 */
uint32_t czpg_bench_host_postmaster(const struct sockaddr_storage *addr, uint32_t pid);

/* CPU time of pid's reaped children (a postmaster's ended backends), seconds; -1 if unknown. */
double czpg_bench_host_children_s(uint32_t pid);

/* Sets in *mask the bit of each CPU one of pids last ran on (CPUs 0-63). */
void czpg_bench_host_note_cpus(const uint32_t *pids, size_t n, uint64_t *mask);

/* Pins this process to cpu.  0, or -1 with a sentence in err. */
int czpg_bench_host_pin_self(int cpu, char *err, size_t errlen);

/* Pins each of pids to cpu.  0, or -1 with a sentence in err at the first refusal. */
int czpg_bench_host_pin(const uint32_t *pids, size_t n, int cpu, char *err, size_t errlen);

#endif
