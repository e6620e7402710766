/*
 * test/fuzz/cron_fuzz.c: libFuzzer target for the cron expression parser.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined against
 * src/scheduler/cron_parse.c alone (it has no PostgreSQL dependency).  Besides
 * memory safety, it checks the parser's contract: a parsed expression has
 * no bit outside its field's range, and the error text is NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/cron_parse.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		expr[DWC_CRON_MAX_LEN + 64];
	char		err[256];
	DwcCron		cron;
	size_t		n = size < sizeof(expr) - 1 ? size : sizeof(expr) - 1;

	memcpy(expr, data, n);
	expr[n] = '\0';
	memset(err, 'x', sizeof(err));

	if (DwcCronParse(expr, &cron, err, sizeof(err)))
	{
		if (cron.minutes >> 60 || cron.hours >> 24 || (cron.days & 1) ||
			(cron.months & 1) || cron.months >> 13 || cron.dows >> 7)
			abort();
	}
	else if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	return 0;
}
