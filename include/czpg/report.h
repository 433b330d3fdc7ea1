/*
 * report.h - the status lines every verb prints: "[PASS] ...", "[FAIL] ...",
 * "[WARN] ...", "[INFO] ...", "[SKIP] ...".  One shape so that operators
 * and scripts can grep for the tag.
 */
#ifndef CZPG_REPORT_H
#define CZPG_REPORT_H

#include <stdio.h>

#include "czpg/result.h"

/* "[<tag>] <message>\n" on out, flushed (a long apply shows each step as it ends). */
void czpg_report_line(FILE *out, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The documented process exit code for a result (docs/exit-codes.md): 0 ok,
 * 1 fail, 2 bad input, 3 could not finish, 4 inconclusive.  JSON reports
 * carry it as "exit_code"; the command line exits with it.
 */
int czpg_report_exit_code(enum czpg_result r);

#endif
