/*
 * test/fuzz/cond_fuzz.c: libFuzzer target for the automation condition compiler.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined against
 * src/cond/cond_parse.c and json-c (it has no PostgreSQL dependency).
 * The input is JSON text; what json-c parses is compiled.  Besides memory
 * safety, it checks the compiler's contract: a compiled program's links stay
 * inside it, every comparison has its path and values within the limits,
 * and a refusal comes with a terminated, non-empty message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cond/cond.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* everything a compilation allocates, freed after it */
typedef struct Arena
{
	void	  **blocks;
	size_t		n;
	size_t		cap;
} Arena;

static void *
arena_alloc(void *arg, size_t size)
{
	Arena	   *a = arg;
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		abort();
	if (a->n == a->cap)
	{
		a->cap = a->cap ? a->cap * 2 : 64;
		a->blocks = realloc(a->blocks, sizeof(void *) * a->cap);
		if (a->blocks == NULL)
			abort();
	}
	a->blocks[a->n++] = p;
	return p;
}

static void
check(const CondProgram *p)
{
	int			i,
				j;

	if (p->nnodes < 1 || p->nnodes > COND_MAX_NODES)
		abort();
	for (i = 0; i < p->nnodes; i++)
	{
		const CondNode *n = &p->nodes[i];

		if (n->next >= p->nnodes || n->first >= p->nnodes || (n->next >= 0 && n->next <= i))
			abort();
		if (n->kind == COND_NOT && n->first <= i)
			abort();
		if (n->kind == COND_CMP)
		{
			if (n->nsegments < 0 || n->nsegments > COND_MAX_SEGMENTS || n->values == NULL || n->nvalues < 0 ||
				n->nvalues > COND_MAX_LIST || (n->op == COND_BETWEEN && n->nvalues != 2))
				abort();
			for (j = 0; j < n->nsegments; j++)
				if (n->path[j].key == NULL || strlen(n->path[j].key) != n->path[j].len)
					abort();
			for (j = 0; j < n->nvalues; j++)
				if (n->values[j].type == CV_STRING && strlen(n->values[j].str) != n->values[j].len)
					abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	struct json_object *obj;
	Arena		arena = {0};
	CondAllocator a = {arena_alloc, &arena};
	CondProgram *p;
	char		err[400];
	size_t		i;

	if (tok == NULL)
		return 0;
	obj = json_tokener_parse_ex(tok, (const char *) data, (int) size);
	json_tokener_free(tok);
	if (obj == NULL)
		return 0;
	memset(err, 'x', sizeof(err));
	p = cond_compile(obj, &a, err, sizeof(err));
	if (p != NULL)
		check(p);
	else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
		abort();
	json_object_put(obj);
	for (i = 0; i < arena.n; i++)
		free(arena.blocks[i]);
	free(arena.blocks);
	return 0;
}
