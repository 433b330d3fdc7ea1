/*
 * report.c - tagged status lines (see czpg/report.h).
 */
#include "czpg/report.h"

#include <stdarg.h>

void czpg_report_line(FILE *out, const char *tag, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "[%s] ", tag);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
}

int czpg_report_exit_code(enum czpg_result r)
{
	switch (r) {
	case CZPG_RESULT_OK:
		return 0;
	case CZPG_RESULT_FAIL:
		return 1;
	case CZPG_RESULT_BAD_INPUT:
		return 2;
	case CZPG_RESULT_ERROR:
		return 3;
	case CZPG_RESULT_INCONCLUSIVE:
		return 4;
	}
	return 3;
}
