/*
 * result.h - what a verb's library function concluded.  Only the command
 * line (src/cli/) turns a result into a process exit code
 * (czpg_cli_exit_code); the library never exits and never speaks of exit
 * codes.
 */
#ifndef CZPG_RESULT_H
#define CZPG_RESULT_H

enum czpg_result {
	CZPG_RESULT_OK = 0,       /* done; PASS; gate below its threshold */
	CZPG_RESULT_FAIL,         /* the check ran and failed (TLS not proven, gate above) */
	CZPG_RESULT_BAD_INPUT,    /* a bad argument or value; nothing was done */
	CZPG_RESULT_ERROR,        /* could not finish: I/O, permission, server unreachable */
	CZPG_RESULT_INCONCLUSIVE, /* the evidence does not decide (bench gate interval straddles) */
};

#endif
