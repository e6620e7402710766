/*
 * test/fuzz/artifact_fuzz.c: libFuzzer target for the ML model artifact reader.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined against the PostgreSQL-free
 * ML core (src/ml/artifact.c, predict.c, knn.c, ml_util.c; BLAS from OpenBLAS).  The
 * core's hooks are bound here: memory from an arena freed after every input, errors
 * by longjmp back to the harness.  An input whose first byte is odd has its header's
 * length and checksum fixed up first, so mutations reach the structure behind the
 * checksum instead of stopping at it.  Whatever the reader accepts is then used: a
 * prediction (and class probabilities) for a row of zeros, which must neither crash
 * nor read out of bounds — the reader's promise is that a model it returns is safe
 * to predict with.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_core.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Block
{
	struct Block *next;
	size_t		size;
} Block;

static Block *arena = NULL;
static jmp_buf on_error;

static void *
fuzz_alloc(size_t size)
{
	Block	   *b;

	if (size > ((size_t) 1 << 31))
		ml_error(ML_ERR_INPUT, "allocation of %zu bytes refused by the fuzz harness", size);
	b = calloc(1, sizeof(Block) + size);
	if (b == NULL)
		abort();
	b->next = arena;
	b->size = size;
	arena = b;
	return b + 1;
}

/* memory goes with the arena; a freed block is just forgotten until then */
static void
fuzz_free(void *p)
{
	(void) p;
}

static void
fuzz_error(MlErrorKind kind, const char *message)
{
	if (message == NULL || memchr(message, '\0', 512) == NULL)
		abort();
	(void) kind;
	longjmp(on_error, 1);
}

static void
free_arena(void)
{
	while (arena)
	{
		Block	   *next = arena->next;

		free(arena);
		arena = next;
	}
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xFF;
	p[1] = (v >> 8) & 0xFF;
	p[2] = (v >> 16) & 0xFF;
	p[3] = (v >> 24) & 0xFF;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *buf;
	MlModel    *m = NULL;
	MlSchema   *s = NULL;

	ml_alloc_hook = fuzz_alloc;
	ml_free_hook = fuzz_free;
	ml_error_hook = fuzz_error;
	ml_interrupt_hook = NULL;
	if (size < 1)
		return 0;
	buf = malloc(size);
	memcpy(buf, data + 1, size - 1);
	size -= 1;
	if ((data[0] & 1) && size >= 16)
	{
		put_le32(buf + 8, (uint32_t) (size - 16));
		put_le32(buf + 12, ml_crc32c(buf + 16, size - 16));
	}
	if (setjmp(on_error) == 0)
	{
		ml_artifact_read(buf, size, &m, &s);
		if (m->p <= 100000)
		{
			double	   *x = fuzz_alloc(sizeof(double) * m->p);
			double	   *proba = fuzz_alloc(sizeof(double) * (m->nclasses > 0 ? m->nclasses : 1));
			double		pred = ml_predict_one(m, x);

			if (m->task == ML_CLASSIFICATION && !(pred >= 0 && pred < m->nclasses))
				abort();		/* a class index out of range would index the labels */
			if (ml_has_proba(m))
				ml_predict_proba(m, x, proba);
		}
	}
	free_arena();
	free(buf);
	return 0;
}
