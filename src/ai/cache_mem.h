/*-------------------------------------------------------------------------
 *
 * cache_mem.h
 *		The response cache's shared-memory tier (cache_mem.c).
 *
 * src/ai/cache_mem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_AI_CACHE_MEM_H
#define DWC_AI_CACHE_MEM_H

#include "datatype/timestamp.h"

extern int	dwc_ai_cache_memory_kb;

extern Size DwcAiCacheMemSize(void);
extern void DwcAiCacheMemInit(void);
extern bool DwcAiCacheMemGet(const uint8 *key, char **text, int *tokens_in, int *tokens_out);
extern void DwcAiCacheMemPut(const uint8 *key, const char *text, int tokens_in, int tokens_out,
							 TimestampTz expires);

#endif							/* DWC_AI_CACHE_MEM_H */
