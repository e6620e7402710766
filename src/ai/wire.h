/*-------------------------------------------------------------------------
 *
 * wire.h
 *		The providers' wire formats: OpenAI chat completions and embeddings
 *		(also OpenAI-compatible servers), Anthropic messages, Google Gemini
 *		generateContent and embedContent.
 *
 * src/ai/wire.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_WIRE_H
#define DWC_WIRE_H

#include "ai/ai.h"
#include "core/http.h"

/* in wire.c */
extern void DwcWireChatRequest(const DwcProvider *p, const char *model, List *messages,
							   double temperature, int max_tokens, DwcHttpRequest *req);
extern char *DwcWireChatResponse(const DwcProvider *p, const char *body, size_t len,
								 int *tokens_in, int *tokens_out, char **problem);
extern void DwcWireEmbedRequest(const DwcProvider *p, const char *model, const char *input,
								DwcHttpRequest *req);
extern float4 *DwcWireEmbedResponse(const DwcProvider *p, const char *body, size_t len,
									int *dim, char **problem);
extern char *DwcWireErrorText(const char *body, size_t len);

#endif							/* DWC_WIRE_H */
