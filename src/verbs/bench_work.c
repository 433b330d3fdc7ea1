/*
 * bench_work.c - the SQL each bench query sends, the statements it prepares
 * and the audit table's DDL (see bench_work.h and docs/bench.md,
 * "Workloads").
 */
#include "bench_work.h"

#include <stdio.h>
#include <string.h>

void czpg_bench_work_init(struct czpg_bench_work *w, const struct czpg_bench_options *o, long pid)
{
	memset(w, 0, sizeof(*w));
	w->workload = o->workload;
	w->extended = o->protocol == CZPG_BENCH_EXTENDED;
	w->sql = o->sql;
	snprintf(w->table, sizeof(w->table), "czbench_audit_%ld", pid);
	memset(w->pad, 'x', CZPG_BENCH_AUDIT_PAD);
	w->pad[CZPG_BENCH_AUDIT_PAD] = '\0';
	snprintf(w->insert_sql, sizeof(w->insert_sql),
		 "INSERT INTO %s (id, tenant, actor, action, payload) "
		 "VALUES ($1, $2, $3, 'policy.update', $4)",
		 w->table);
	snprintf(w->select_sql, sizeof(w->select_sql), "SELECT payload FROM %s WHERE id = $1",
		 w->table);
}

/* The one statement of the select1 and --sql workloads. */
static const char *select_sql(const struct czpg_bench_work *w)
{
	return w->workload == CZPG_BENCH_SQL ? w->sql : "SELECT 1";
}

static void audit_payload(const struct czpg_bench_work *w, uint64_t key, char *out, size_t cap)
{
	snprintf(out, cap,
		 "{\"event\":\"policy.update\",\"key\":%llu,\"actor\":{\"id\":\"svc-%llu\","
		 "\"kind\":\"service\"},\"source_ip\":\"10.20.1.2\",\"request_id\":"
		 "\"%016llx\",\"outcome\":\"allowed\",\"detail\":\"%s\"}",
		 (unsigned long long)key, (unsigned long long)(key % 97),
		 (unsigned long long)(key * 0x9e3779b97f4a7c15ull), w->pad);
}

static void audit_insert(struct czpg_bench_work *w, struct czpg_bench_query *q)
{
	uint64_t id = ++w->next_key;

	q->key = id;
	snprintf(q->key_s, sizeof(q->key_s), "%llu", (unsigned long long)id);
	snprintf(q->tenant, sizeof(q->tenant), "%llu", (unsigned long long)(id % 50));
	snprintf(q->actor, sizeof(q->actor), "svc-%llu", (unsigned long long)(id % 97));
	audit_payload(w, id, q->payload, sizeof(q->payload));
	if (w->extended) {
		q->values[0] = q->key_s, q->values[1] = q->tenant, q->values[2] = q->actor;
		q->values[3] = q->payload;
		q->stmt = "czb_ins", q->nparams = 4;
		return;
	}
	snprintf(q->sql, sizeof(q->sql),
		 "INSERT INTO %s (id, tenant, actor, action, payload) VALUES "
		 "(%s, %s, '%s', 'policy.update', '%s')",
		 w->table, q->key_s, q->tenant, q->actor, q->payload);
	q->text = q->sql;
}

static void audit_read(const struct czpg_bench_work *w, uint64_t key, struct czpg_bench_query *q)
{
	snprintf(q->key_s, sizeof(q->key_s), "%llu", (unsigned long long)key);
	if (w->extended) {
		q->values[0] = q->key_s;
		q->stmt = "czb_sel", q->nparams = 1;
		return;
	}
	snprintf(q->sql, sizeof(q->sql), "SELECT payload FROM %s WHERE id = %s", w->table,
		 q->key_s);
	q->text = q->sql;
}

void czpg_bench_work_query(struct czpg_bench_work *w, uint64_t nth, uint64_t committed_key,
			   struct czpg_bench_query *q)
{
	q->stmt = "czb_q";
	q->text = select_sql(w);
	q->nparams = 0;
	q->key = 0;
	if (w->workload != CZPG_BENCH_AUDIT)
		return;
	if (nth % 2 == 0 || committed_key == 0)
		audit_insert(w, q);
	else
		audit_read(w, committed_key, q);
}

size_t czpg_bench_work_statements(const struct czpg_bench_work *w,
				  struct czpg_bench_stmt out[CZPG_BENCH_WORK_MAX_STMTS])
{
	if (w->workload != CZPG_BENCH_AUDIT) {
		out[0].name = "czb_q", out[0].sql = select_sql(w), out[0].nparams = 0;
		return 1;
	}
	out[0].name = "czb_ins", out[0].sql = w->insert_sql, out[0].nparams = 4;
	out[1].name = "czb_sel", out[1].sql = w->select_sql, out[1].nparams = 1;
	return 2;
}

bool czpg_bench_work_create_sql(const struct czpg_bench_work *w, size_t i, char *out, size_t cap)
{
	if (w->workload != CZPG_BENCH_AUDIT || w->table[0] == '\0')
		return false;
	switch (i) {
	case 0:
		snprintf(out, cap, "DROP TABLE IF EXISTS %s", w->table);
		return true;
	case 1:
		snprintf(out, cap,
			 "CREATE TABLE %s (id bigint PRIMARY KEY, tenant integer NOT NULL, "
			 "actor text NOT NULL, action text NOT NULL, "
			 "at timestamptz NOT NULL DEFAULT now(), payload jsonb NOT NULL)",
			 w->table);
		return true;
	case 2:
		snprintf(out, cap, "CREATE INDEX %s_tenant_at ON %s (tenant, at)", w->table,
			 w->table);
		return true;
	default:
		return false;
	}
}

bool czpg_bench_work_drop_sql(const struct czpg_bench_work *w, char *out, size_t cap)
{
	if (w->workload != CZPG_BENCH_AUDIT || w->table[0] == '\0')
		return false;
	snprintf(out, cap, "DROP TABLE IF EXISTS %s", w->table);
	return true;
}
