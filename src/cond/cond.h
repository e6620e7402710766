/*-------------------------------------------------------------------------
 *
 * cond.h
 *		Automation conditions: a small predicate language over JSON data,
 *		compiled from its JSON form (cond_parse.c, no PostgreSQL types, so
 *		that it can be fuzzed on its own) and evaluated against jsonb
 *		(cond_eval.c).
 *
 * The language, as docs/automation.md gives it:
 *
 *   condition := true | false
 *              | {"all": [condition, ...]}      every one (none: true)
 *              | {"any": [condition, ...]}      at least one (none: false)
 *              | {"not": condition}
 *              | {"path": P, OP: value}         a comparison of the value at P
 *   P         := "a.b.0.c" (dots; digits index arrays; "" the whole datum)
 *              | ["a.b", 0, "c"]                (segments, for keys with dots)
 *   OP        := eq | ne | lt | le | gt | ge    a scalar (lt..ge: numbers or strings)
 *              | in                             an array of scalars
 *              | between                        [low, high], inclusive
 *              | contains                       a scalar: a substring, or an array's element
 *              | matches                        a regular expression (POSIX, as ~)
 *              | exists                         true or false
 *
 * A comparison whose value is missing, or of another type, is false (ne
 * too); "exists" asks whether it is there.
 *
 * src/cond/cond.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_COND_H
#define DWC_COND_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* limits: a condition is data from users */
#define COND_MAX_NODES 1000
#define COND_MAX_DEPTH 32
#define COND_MAX_SEGMENTS 32
#define COND_MAX_LIST 1000
#define COND_MAX_STRING 10000

typedef enum CondKind
{
	COND_TRUE,
	COND_FALSE,
	COND_ALL,
	COND_ANY,
	COND_NOT,
	COND_CMP
} CondKind;

typedef enum CondOp
{
	COND_EQ,
	COND_NE,
	COND_LT,
	COND_LE,
	COND_GT,
	COND_GE,
	COND_IN,
	COND_BETWEEN,
	COND_CONTAINS,
	COND_MATCHES,
	COND_EXISTS
} CondOp;

typedef enum CondType
{
	CV_NULL,
	CV_BOOL,
	CV_NUMBER,
	CV_STRING
} CondType;

typedef struct CondValue
{
	CondType	type;
	bool		b;
	double		num;
	const char *str;			/* NUL-terminated */
	size_t		len;
} CondValue;

typedef struct CondSegment
{
	const char *key;			/* NUL-terminated */
	size_t		len;
	long		index;			/* the segment as an array index, or -1 */
} CondSegment;

typedef struct CondNode
{
	CondKind	kind;
	int			first;			/* ALL, ANY, NOT: the first child's position */
	int			next;			/* the next sibling's position, or -1 */
	CondOp		op;				/* CMP */
	int			nsegments;
	CondSegment *path;
	int			nvalues;		/* IN: the list; BETWEEN: 2; EXISTS: 1 (a bool) */
	CondValue  *values;
} CondNode;

typedef struct CondProgram
{
	int			nnodes;
	CondNode   *nodes;			/* nodes[0] is the root */
} CondProgram;

/* where a compilation gets its memory (all of it: freeing is the allocator's business) */
typedef struct CondAllocator
{
	void	   *(*alloc) (void *arg, size_t size);	/* never returns NULL */
	void	   *arg;
} CondAllocator;

/*
 * Compile a condition; NULL, with a message in err naming what is wrong
 * and where (a path into the condition, such as all[2].gt), when it is not
 * one.
 */
extern CondProgram *cond_compile(struct json_object *cond, const CondAllocator *a, char *err, size_t errlen);

extern const char *cond_op_name(CondOp op);

#endif							/* DWC_COND_H */
