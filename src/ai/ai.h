/*-------------------------------------------------------------------------
 *
 * ai.h
 *		The AI service: providers, the call path (cache, rate limits,
 *		retries, call log), the builtin provider and embeddings.
 *
 * src/ai/README.md describes the call path.
 *
 * src/ai/ai.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_AI_H
#define DWC_AI_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef enum DwcProviderKind
{
	DWC_PROVIDER_BUILTIN = 0,
	DWC_PROVIDER_OPENAI,
	DWC_PROVIDER_ANTHROPIC,
	DWC_PROVIDER_GOOGLE,
	DWC_PROVIDER_OPENAI_COMPATIBLE
} DwcProviderKind;

typedef struct DwcProvider
{
	int32		id;
	char	   *name;
	DwcProviderKind kind;
	char	   *base_url;
	char	   *default_model;
	char	   *embedding_model;
	char	   *api_key;		/* resolved secret, NULL if none; never logged */
	bool		key_resolved;	/* api_key is set by DwcProviderResolveKey() */
	bool		has_encrypted_key;	/* where the key comes from */
	char	   *key_env;
	char	   *key_setting;
	int32		timeout_ms;
	int32		max_retries;
	int32		requests_per_minute;	/* 0: no limit */
	int32		tokens_per_minute;	/* 0: no limit */
	double		cost_input_per_1k;
	double		cost_output_per_1k;
	int32		cache_ttl_s;	/* 0: no caching */
} DwcProvider;

typedef struct DwcMessage
{
	char	   *role;			/* system, user, assistant */
	char	   *content;
} DwcMessage;

typedef struct DwcAiRequest
{
	const char *provider;		/* name; NULL: dwc.default_provider */
	const char *model;			/* NULL: the provider's default */
	List	   *messages;		/* of DwcMessage *, in order */
	double		temperature;	/* < 0: provider default */
	int32		max_tokens;		/* <= 0: 1024 */
	int32		cache_ttl_s;	/* < 0: provider's; 0: no cache */
	const char *operation;		/* "generate", "chat": for the call log */
} DwcAiRequest;

typedef struct DwcAiResult
{
	char	   *text;
	char	   *provider;
	char	   *model;
	int32		tokens_in;
	int32		tokens_out;
	double		cost;
	double		latency_ms;
	bool		cached;
	int32		attempts;
} DwcAiResult;

/* in providers.c */
extern DwcProvider *DwcLookupProvider(const char *name, bool missing_ok);
extern const char *DwcProviderKindName(DwcProviderKind kind);
extern void DwcProviderResolveKey(DwcProvider *p);

/* in call.c */
extern void DwcAiComplete(const DwcAiRequest *req, DwcAiResult *res);
extern float4 *DwcAiEmbed(const char *provider, const char *model, const char *text, int *dim);

/* in builtin.c */
extern char *DwcBuiltinComplete(List *messages, int max_tokens);

/* in embed.c */
#define DWC_EMBED_DIM 512
extern void DwcBuiltinEmbed(const char *text, int len, float4 *out);

/* in init.c */
extern void DwcAiInit(void);

#endif							/* DWC_AI_H */
