/*
 * hba.h - everything about pg_hba.conf, in four parts (one header and one
 * source file each, under src/server/):
 *
 *   czpg/hba_values.h  the block's mode, CIDRs, role and database names
 *   czpg/hba_parse.h   the parser: logical lines, records, the managed block
 *   czpg/hba_eval.h    the first-match evaluator: which record decides a
 *                      connection
 *   czpg/hba_plan.h    the managed-block planner: where the block goes, the
 *                      new file, the dry-run explanation
 *
 * Include the part you use; this header includes all four.
 */
#ifndef CZPG_HBA_H
#define CZPG_HBA_H

#include "czpg/hba_eval.h"
#include "czpg/hba_parse.h"
#include "czpg/hba_plan.h"
#include "czpg/hba_values.h"

#endif
