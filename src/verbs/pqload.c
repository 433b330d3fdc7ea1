/*
 * pqload.c - libpq at run time (see pqload.h): dlopen(3) of libpq.so.5,
 * the soname of libpq's stable ABI, and dlsym(3) of each function czctl
 * calls.
 */
#include "pqload.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <string.h>

#include "czpg/errf.h"

#define PQLOAD_SONAME "libpq.so.5"

static struct czpg_pqload table;
static bool loaded;

/* Resolves name into *slot; false with a sentence in err when libpq lacks it. */
static bool resolve(void *lib, const char *name, void **slot, char *err, size_t errlen)
{
	*slot = dlsym(lib, name);
	if (*slot != NULL)
		return true;
	czpg_errf(err, errlen, "%s has no %s (a libpq older than PostgreSQL 13?)", PQLOAD_SONAME,
		  name);
	return false;
}

const struct czpg_pqload *czpg_pqload_open(char *err, size_t errlen)
{
	struct czpg_pqload t;
	void *lib;
	const char *why;

	if (loaded)
		return &table;
	lib = dlopen(PQLOAD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		why = dlerror();
		czpg_errf(err, errlen,
			  "cannot load libpq (%s) for the libpq client: %s; install "
			  "the libpq5 package",
			  PQLOAD_SONAME, why != NULL ? why : "unknown reason");
		return NULL;
	}
#define RESOLVE(f)                                                                                 \
	if (!resolve(lib, #f, (void **)&t.f, err, errlen))                                         \
		goto fail;
	RESOLVE(PQbackendPID)
	RESOLVE(PQclear)
	RESOLVE(PQconnectdbParams)
	RESOLVE(PQconnectionUsedPassword)
	RESOLVE(PQconsumeInput)
	RESOLVE(PQerrorMessage)
	RESOLVE(PQexec)
	RESOLVE(PQfinish)
	RESOLVE(PQflush)
	RESOLVE(PQgetResult)
	RESOLVE(PQgetssl)
	RESOLVE(PQgetvalue)
	RESOLVE(PQhost)
	RESOLVE(PQisBusy)
	RESOLVE(PQlibVersion)
	RESOLVE(PQnfields)
	RESOLVE(PQntuples)
	RESOLVE(PQparameterStatus)
	RESOLVE(PQprepare)
	RESOLVE(PQresultStatus)
	RESOLVE(PQsendQuery)
	RESOLVE(PQsendQueryPrepared)
	RESOLVE(PQsetNoticeProcessor)
	RESOLVE(PQsetnonblocking)
	RESOLVE(PQsocket)
	RESOLVE(PQsslAttribute)
	RESOLVE(PQsslInUse)
	RESOLVE(PQstatus)
#undef RESOLVE
	table = t;
	loaded = true;
	return &table;
fail:
	dlclose(lib);
	return NULL;
}
