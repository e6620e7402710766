/*-------------------------------------------------------------------------
 *
 * cond_parse.c
 *		Compiling a condition (cond.h) from its JSON form.
 *
 * Plain C over json-c, with no PostgreSQL types, so that the fuzz target
 * (test/fuzz/cond_fuzz.c) runs it on its own.  Nodes are built in a scratch
 * array of our own and copied, with every string, into the caller's
 * allocator at the end; a condition that is not one leaves nothing behind
 * but the message.
 *
 * src/cond/cond_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/json_object_iterator.h>

#include "cond/cond.h"

typedef struct Builder
{
	CondNode   *nodes;			/* scratch, malloc'd */
	int			nnodes;
	int			cap;
	const CondAllocator *a;
	char	   *err;
	size_t		errlen;
	char		where[256];		/* where in the condition we are, e.g. all[2].not */
	bool		failed;
} Builder;

static const char *const op_names[] = {
	"eq", "ne", "lt", "le", "gt", "ge", "in", "between", "contains", "matches", "exists"
};

const char *
cond_op_name(CondOp op)
{
	return op_names[op];
}

static void fail(Builder *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
static size_t enter(Builder *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
fail(Builder *b, const char *fmt,...)
{
	char		msg[200];
	va_list		ap;

	if (b->failed)
		return;
	b->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (b->errlen > 0)
	{
		if (b->where[0])
			snprintf(b->err, b->errlen, "%s (at %s)", msg, b->where);
		else
			snprintf(b->err, b->errlen, "%s", msg);
	}
}

/* append to where; returns the length to cut back to */
static size_t
enter(Builder *b, const char *fmt,...)
{
	size_t		len = strlen(b->where);
	va_list		ap;

	va_start(ap, fmt);
	if (len < sizeof(b->where) - 1)
		vsnprintf(b->where + len, sizeof(b->where) - len, fmt, ap);
	va_end(ap);
	return len;
}

static void
leave(Builder *b, size_t len)
{
	b->where[len] = '\0';
}

static int
new_node(Builder *b, CondKind kind)
{
	if (b->nnodes == COND_MAX_NODES)
	{
		fail(b, "a condition has at most %d parts", COND_MAX_NODES);
		return -1;
	}
	if (b->nnodes == b->cap)
	{
		int			cap = b->cap ? b->cap * 2 : 16;
		CondNode   *grown = realloc(b->nodes, sizeof(CondNode) * cap);

		if (grown == NULL)
		{
			fail(b, "out of memory");
			return -1;
		}
		b->nodes = grown;
		b->cap = cap;
	}
	memset(&b->nodes[b->nnodes], 0, sizeof(CondNode));
	b->nodes[b->nnodes].kind = kind;
	b->nodes[b->nnodes].first = -1;
	b->nodes[b->nnodes].next = -1;
	return b->nnodes++;
}

static char *
copy_string(Builder *b, const char *s, size_t len)
{
	char	   *out = b->a->alloc(b->a->arg, len + 1);

	memcpy(out, s, len);
	out[len] = '\0';
	return out;
}

/* a scalar value of a comparison */
static bool
scalar(Builder *b, struct json_object *v, CondValue *out)
{
	memset(out, 0, sizeof(*out));
	switch (json_object_get_type(v))
	{
		case json_type_null:
			out->type = CV_NULL;
			return true;
		case json_type_boolean:
			out->type = CV_BOOL;
			out->b = json_object_get_boolean(v);
			return true;
		case json_type_int:
		case json_type_double:
			out->type = CV_NUMBER;
			out->num = json_object_get_double(v);
			if (!isfinite(out->num))
			{
				fail(b, "a number must be finite");
				return false;
			}
			return true;
		case json_type_string:
			out->len = (size_t) json_object_get_string_len(v);
			if (out->len > COND_MAX_STRING)
			{
				fail(b, "a string is at most %d bytes", COND_MAX_STRING);
				return false;
			}
			if (memchr(json_object_get_string(v), '\0', out->len) != NULL)
			{
				fail(b, "a string must not contain NUL");
				return false;
			}
			out->type = CV_STRING;
			out->str = copy_string(b, json_object_get_string(v), out->len);
			return true;
		default:
			fail(b, "expected a string, number, boolean or null, not %s",
				 json_type_to_name(json_object_get_type(v)));
			return false;
	}
}

/* a path segment as an array index: digits only, no leading zero */
static long
index_of(const char *s, size_t len)
{
	long		n = 0;
	size_t		i;

	if (len == 0 || len > 9 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	return n;
}

static bool
add_segment(Builder *b, CondNode *n, CondSegment *segs, const char *s, size_t len, long index)
{
	if (n->nsegments == COND_MAX_SEGMENTS)
	{
		fail(b, "a path has at most %d parts", COND_MAX_SEGMENTS);
		return false;
	}
	if (len > 1000)
	{
		fail(b, "a path's part is at most 1000 bytes");
		return false;
	}
	if (memchr(s, '\0', len) != NULL)
	{
		fail(b, "a path must not contain NUL");
		return false;
	}
	segs[n->nsegments].key = copy_string(b, s, len);
	segs[n->nsegments].len = len;
	segs[n->nsegments].index = index;
	n->nsegments++;
	return true;
}

static bool
path(Builder *b, struct json_object *p, CondNode *n)
{
	CondSegment segs[COND_MAX_SEGMENTS];

	n->nsegments = 0;
	if (json_object_is_type(p, json_type_string))
	{
		const char *s = json_object_get_string(p);
		size_t		len = (size_t) json_object_get_string_len(p);
		size_t		start = 0,
					i;

		if (len > 0)
			for (i = 0; i <= len; i++)
			{
				if (i < len && s[i] != '.')
					continue;
				if (i == start)
				{
					fail(b, "a path's parts must not be empty (\"a.b\", or [\"a\", \"b\"])");
					return false;
				}
				if (!add_segment(b, n, segs, s + start, i - start, index_of(s + start, i - start)))
					return false;
				start = i + 1;
			}
	}
	else if (json_object_is_type(p, json_type_array))
	{
		size_t		i,
					len = json_object_array_length(p);

		for (i = 0; i < len; i++)
		{
			struct json_object *e = json_object_array_get_idx(p, i);
			char		num[32];

			if (json_object_is_type(e, json_type_string))
			{
				if (!add_segment(b, n, segs, json_object_get_string(e), (size_t) json_object_get_string_len(e), -1))
					return false;
			}
			else if (json_object_is_type(e, json_type_int) && json_object_get_int64(e) >= 0 &&
					 json_object_get_int64(e) <= 999999999)
			{
				snprintf(num, sizeof(num), "%lld", (long long) json_object_get_int64(e));
				if (!add_segment(b, n, segs, num, strlen(num), (long) json_object_get_int64(e)))
					return false;
			}
			else
			{
				fail(b, "a path's parts are strings (keys) or integers from 0 (array positions)");
				return false;
			}
		}
	}
	else
	{
		fail(b, "\"path\" must be a string such as \"payload.amount\" or an array of keys and positions");
		return false;
	}
	n->path = b->a->alloc(b->a->arg, sizeof(CondSegment) * (n->nsegments ? n->nsegments : 1));
	memcpy(n->path, segs, sizeof(CondSegment) * n->nsegments);
	return true;
}

static int	compile_node(Builder *b, struct json_object *c, int depth);

/* {"path": P, OP: value} */
static int
comparison(Builder *b, struct json_object *c)
{
	struct json_object *p = NULL;
	const char *opname = NULL;
	struct json_object *arg = NULL;
	int			pos,
				op = -1,
				i;
	CondNode   *n;
	size_t		mark;
	struct json_object_iterator it = json_object_iter_begin(c);
	struct json_object_iterator end = json_object_iter_end(c);

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
	{
		const char *key = json_object_iter_peek_name(&it);
		struct json_object *val = json_object_iter_peek_value(&it);

		if (strcmp(key, "path") == 0)
			p = val;
		else
		{
			for (i = 0; i < (int) (sizeof(op_names) / sizeof(op_names[0])); i++)
				if (strcmp(key, op_names[i]) == 0)
					break;
			if (i == (int) (sizeof(op_names) / sizeof(op_names[0])))
			{
				fail(b, "unknown key \"%.60s\": a condition is true, false, {\"all\": [...]}, {\"any\": [...]}, "
					 "{\"not\": ...} or {\"path\": ..., \"<operator>\": ...} with eq, ne, lt, le, gt, ge, in, "
					 "between, contains, matches or exists", key);
				return -1;
			}
			if (opname != NULL)
			{
				fail(b, "a comparison has one operator, not \"%s\" and \"%s\"", opname, key);
				return -1;
			}
			opname = op_names[i];
			op = i;
			arg = val;
		}
	}
	if (p == NULL)
	{
		fail(b, "a comparison needs \"path\"");
		return -1;
	}
	if (opname == NULL)
	{
		fail(b, "a comparison needs an operator: eq, ne, lt, le, gt, ge, in, between, contains, matches or exists");
		return -1;
	}
	if ((pos = new_node(b, COND_CMP)) < 0)
		return -1;
	n = &b->nodes[pos];
	n->op = (CondOp) op;
	mark = enter(b, "%spath", b->where[0] ? "." : "");
	if (!path(b, p, &b->nodes[pos]))
		return -1;
	leave(b, mark);
	mark = enter(b, "%s%s", b->where[0] ? "." : "", opname);
	n = &b->nodes[pos];
	switch (n->op)
	{
		case COND_IN:
		case COND_BETWEEN:
			{
				size_t		len;
				CondValue  *vals;

				if (!json_object_is_type(arg, json_type_array))
				{
					fail(b, n->op == COND_IN ? "\"in\" takes an array of values" : "\"between\" takes [low, high]");
					return -1;
				}
				len = json_object_array_length(arg);
				if (n->op == COND_BETWEEN && len != 2)
				{
					fail(b, "\"between\" takes [low, high]");
					return -1;
				}
				if (len > COND_MAX_LIST)
				{
					fail(b, "\"in\" takes at most %d values", COND_MAX_LIST);
					return -1;
				}
				vals = b->a->alloc(b->a->arg, sizeof(CondValue) * (len ? len : 1));
				for (i = 0; i < (int) len; i++)
					if (!scalar(b, json_object_array_get_idx(arg, i), &vals[i]))
						return -1;
				if (n->op == COND_BETWEEN &&
					(vals[0].type != vals[1].type || (vals[0].type != CV_NUMBER && vals[0].type != CV_STRING)))
				{
					fail(b, "\"between\" takes two numbers or two strings");
					return -1;
				}
				n = &b->nodes[pos];
				n->values = vals;
				n->nvalues = (int) len;
				break;
			}
		case COND_EXISTS:
			if (!json_object_is_type(arg, json_type_boolean))
			{
				fail(b, "\"exists\" takes true or false");
				return -1;
			}
			/* fall through */
		default:
			{
				CondValue  *v = b->a->alloc(b->a->arg, sizeof(CondValue));

				if (!scalar(b, arg, v))
					return -1;
				n = &b->nodes[pos];
				if ((n->op == COND_LT || n->op == COND_LE || n->op == COND_GT || n->op == COND_GE) &&
					v->type != CV_NUMBER && v->type != CV_STRING)
				{
					fail(b, "\"%s\" compares with a number or a string", opname);
					return -1;
				}
				if (n->op == COND_MATCHES && v->type != CV_STRING)
				{
					fail(b, "\"matches\" takes a regular expression, as a string");
					return -1;
				}
				if (n->op == COND_CONTAINS && v->type == CV_NULL)
				{
					fail(b, "\"contains\" takes a string, number or boolean");
					return -1;
				}
				n->values = v;
				n->nvalues = 1;
				break;
			}
	}
	leave(b, mark);
	return pos;
}

/* {"all": [...]} and {"any": [...]} */
static int
list(Builder *b, CondKind kind, struct json_object *items, int depth)
{
	int			pos,
				last = -1;
	size_t		i,
				len;

	if (!json_object_is_type(items, json_type_array))
	{
		fail(b, "\"%s\" takes an array of conditions", kind == COND_ALL ? "all" : "any");
		return -1;
	}
	if ((pos = new_node(b, kind)) < 0)
		return -1;
	len = json_object_array_length(items);
	for (i = 0; i < len; i++)
	{
		size_t		mark = enter(b, "%s%s[%zu]", b->where[0] ? "." : "", kind == COND_ALL ? "all" : "any", i);
		int			child = compile_node(b, json_object_array_get_idx(items, i), depth + 1);

		if (child < 0)
			return -1;
		leave(b, mark);
		if (last < 0)
			b->nodes[pos].first = child;
		else
			b->nodes[last].next = child;
		last = child;
	}
	return pos;
}

static int
compile_node(Builder *b, struct json_object *c, int depth)
{
	if (depth > COND_MAX_DEPTH)
	{
		fail(b, "a condition nests at most %d deep", COND_MAX_DEPTH);
		return -1;
	}
	if (c == NULL || json_object_is_type(c, json_type_null))
	{
		fail(b, "a condition is true, false or an object, not null");
		return -1;
	}
	if (json_object_is_type(c, json_type_boolean))
		return new_node(b, json_object_get_boolean(c) ? COND_TRUE : COND_FALSE);
	if (!json_object_is_type(c, json_type_object))
	{
		fail(b, "a condition is true, false or an object, not %s", json_type_to_name(json_object_get_type(c)));
		return -1;
	}
	if (json_object_object_length(c) == 1)
	{
		struct json_object *v;

		if (json_object_object_get_ex(c, "all", &v))
			return list(b, COND_ALL, v, depth);
		if (json_object_object_get_ex(c, "any", &v))
			return list(b, COND_ANY, v, depth);
		if (json_object_object_get_ex(c, "not", &v))
		{
			int			pos = new_node(b, COND_NOT);
			size_t		mark = enter(b, "%snot", b->where[0] ? "." : "");
			int			child;

			if (pos < 0)
				return -1;
			if ((child = compile_node(b, v, depth + 1)) < 0)
				return -1;
			leave(b, mark);
			b->nodes[pos].first = child;
			return pos;
		}
	}
	else
	{
		struct json_object *v;

		if (json_object_object_get_ex(c, "all", &v) || json_object_object_get_ex(c, "any", &v) ||
			json_object_object_get_ex(c, "not", &v))
		{
			fail(b, "\"all\", \"any\" and \"not\" stand alone in their object");
			return -1;
		}
	}
	return comparison(b, c);
}

CondProgram *
cond_compile(struct json_object *cond, const CondAllocator *a, char *err, size_t errlen)
{
	Builder		b;
	CondProgram *prog = NULL;

	memset(&b, 0, sizeof(b));
	b.a = a;
	b.err = err;
	b.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if (compile_node(&b, cond, 0) >= 0 && !b.failed)
	{
		prog = a->alloc(a->arg, sizeof(CondProgram));
		prog->nnodes = b.nnodes;
		prog->nodes = a->alloc(a->arg, sizeof(CondNode) * b.nnodes);
		memcpy(prog->nodes, b.nodes, sizeof(CondNode) * b.nnodes);
	}
	else if (!b.failed)
		fail(&b, "not a condition");
	free(b.nodes);
	return prog;
}
