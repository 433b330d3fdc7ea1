/*
 * pqload.h - private to the verbs: libpq, loaded when first asked for.
 *
 * czctl uses libpq only as an independent cross-check client (verify
 * --client libpq, bench --client libpq).  Linked at build time it would be
 * mapped, with the two dozen libraries it pulls in (Kerberos, LDAP, SASL,
 * GnuTLS, ...), into every run, and loading and relocating them is most of
 * what a native `verify` costs as a whole process.  So libpq.so.5 is opened
 * with dlopen(3) by the one path that needs it, and its functions are
 * reached through this table.  The types are libpq-fe.h's (a header only).
 */
#ifndef CZPG_PQLOAD_H
#define CZPG_PQLOAD_H

#include <stddef.h>

#include <libpq-fe.h>

/* The libpq functions czctl calls, with their own prototypes. */
struct czpg_pqload {
	__typeof__(PQbackendPID) *PQbackendPID;
	__typeof__(PQclear) *PQclear;
	__typeof__(PQconnectdbParams) *PQconnectdbParams;
	__typeof__(PQconnectionUsedPassword) *PQconnectionUsedPassword;
	__typeof__(PQconsumeInput) *PQconsumeInput;
	__typeof__(PQerrorMessage) *PQerrorMessage;
	__typeof__(PQexec) *PQexec;
	__typeof__(PQfinish) *PQfinish;
	__typeof__(PQflush) *PQflush;
	__typeof__(PQgetResult) *PQgetResult;
	__typeof__(PQgetssl) *PQgetssl;
	__typeof__(PQgetvalue) *PQgetvalue;
	__typeof__(PQhost) *PQhost;
	__typeof__(PQisBusy) *PQisBusy;
	__typeof__(PQlibVersion) *PQlibVersion;
	__typeof__(PQnfields) *PQnfields;
	__typeof__(PQntuples) *PQntuples;
	__typeof__(PQparameterStatus) *PQparameterStatus;
	__typeof__(PQprepare) *PQprepare;
	__typeof__(PQresultStatus) *PQresultStatus;
	__typeof__(PQsendQuery) *PQsendQuery;
	__typeof__(PQsendQueryPrepared) *PQsendQueryPrepared;
	__typeof__(PQsetNoticeProcessor) *PQsetNoticeProcessor;
	__typeof__(PQsetnonblocking) *PQsetnonblocking;
	__typeof__(PQsocket) *PQsocket;
	__typeof__(PQsslAttribute) *PQsslAttribute;
	__typeof__(PQsslInUse) *PQsslInUse;
	__typeof__(PQstatus) *PQstatus;
};

/*
 * Loads libpq.so.5 (once per process; later calls return the same table)
 * and resolves every function above.  The table, or NULL with a sentence in
 * err naming what is missing (install the libpq5 package).  The library
 * stays loaded until the process ends.  Not for concurrent first calls.
 */
const struct czpg_pqload *czpg_pqload_open(char *err, size_t errlen);

#endif
