/*-------------------------------------------------------------------------
 *
 * cond_pg.h
 *		Conditions in the backend (cond_eval.c): compiling from jsonb and
 *		evaluating against jsonb.
 *
 * src/cond/cond_pg.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_COND_PG_H
#define DWC_COND_PG_H

#include "utils/jsonb.h"
#include "utils/palloc.h"

#include "cond/cond.h"

/* the compiled condition, in cxt; an error (22023) saying what is wrong when it is not one */
extern CondProgram *DwcCondCompile(Jsonb *cond, MemoryContext cxt);

extern bool DwcCondEval(const CondProgram *p, Jsonb *data);

#endif							/* DWC_COND_PG_H */
