/*-------------------------------------------------------------------------
 *
 * audit_row.h
 *		What the audit trigger knows of an audited table, and its rows as
 *		jsonb (audit_json.c).
 *
 * src/audit/audit_row.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_AUDIT_ROW_H
#define DWC_AUDIT_ROW_H

#include "commands/trigger.h"
#include "nodes/bitmapset.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

/* per audited table, per backend, until its relcache entry is invalidated */
typedef struct AuditRel
{
	Oid			relid;			/* hash key */
	bool		valid;
	char	   *name;			/* schema.table */
	Bitmapset  *pk;				/* primary key columns (attno - FirstLowInvalidHeapAttributeNumber) */
	int			ncols;			/* columns that are not dropped */
	AttrNumber *order;			/* their numbers, in jsonb key order */
	bool		has_json;		/* some are json or jsonb */
} AuditRel;

/* a row's columns, deformed once */
typedef struct AuditValues
{
	Datum	   *values;
	bool	   *nulls;
} AuditValues;

extern AuditRel *DwcAuditRel(Relation rel);
extern Jsonb *DwcAuditJsonb(AuditRel *ar, TupleDesc desc, Trigger *trigger, const AuditValues *row,
							const AuditValues *other, Bitmapset *only);

#endif							/* DWC_AUDIT_ROW_H */
