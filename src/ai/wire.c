/*-------------------------------------------------------------------------
 *
 * wire.c
 *		Request bodies and response parsing for each provider kind.
 *
 *   openai, openai_compatible   POST {base}/chat/completions, {base}/embeddings
 *                               Authorization: Bearer <key>
 *   anthropic                   POST {base}/messages
 *                               x-api-key: <key>, anthropic-version: 2023-06-01
 *   google (Gemini)             POST {base}/models/{model}:generateContent,
 *                               {base}/models/{model}:embedContent
 *                               x-goog-api-key: <key> (a header: keys in URLs end up in logs)
 *
 * Default base URLs: https://api.openai.com/v1, https://api.anthropic.com/v1,
 * https://generativelanguage.googleapis.com/v1beta, and
 * http://localhost:11434/v1 (Ollama) for openai_compatible.
 *
 * Bodies are built and responses read with json-c; a response that parses
 * but lacks what the format promises is reported as a "problem" string.
 *
 * src/ai/wire.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "ai/wire.h"
#include "core/jsonc.h"
#include "core/jsonc_prelude.h"

static const char *
base_url(const DwcProvider *p)
{
	if (p->base_url && p->base_url[0])
		return p->base_url;
	switch (p->kind)
	{
		case DWC_PROVIDER_OPENAI:
			return "https://api.openai.com/v1";
		case DWC_PROVIDER_ANTHROPIC:
			return "https://api.anthropic.com/v1";
		case DWC_PROVIDER_GOOGLE:
			return "https://generativelanguage.googleapis.com/v1beta";
		default:
			return "http://localhost:11434/v1";
	}
}

static char *
url_join(const char *base, const char *path)
{
	size_t		n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return psprintf("%.*s%s", (int) n, base, path);
}

/* Hand the json-c object to the request as its body, and free it. */
static void
set_body(DwcHttpRequest *req, struct json_object *body)
{
	char	   *text = DwcJsoncToCString(body);

	json_object_put(body);
	req->body = text;
	req->body_len = strlen(text);
	DwcHttpAddHeader(req, "Content-Type", "application/json");
}

static void
add_auth(const DwcProvider *p, DwcHttpRequest *req)
{
	if (p->api_key == NULL)
		return;
	switch (p->kind)
	{
		case DWC_PROVIDER_ANTHROPIC:
			DwcHttpAddHeader(req, "x-api-key", p->api_key);
			break;
		case DWC_PROVIDER_GOOGLE:
			DwcHttpAddHeader(req, "x-goog-api-key", p->api_key);
			break;
		default:
			DwcHttpAddHeader(req, "Authorization", psprintf("Bearer %s", p->api_key));
			break;
	}
}

static struct json_object *
text_part(const char *text)
{
	struct json_object *part = json_object_new_object();

	json_object_object_add(part, "text", json_object_new_string(text));
	return part;
}

/*
 * The system messages joined by blank lines, or NULL: Anthropic and Gemini
 * take them in a field of their own, not among the turns.
 */
static char *
joined_system(List *messages)
{
	StringInfoData system;
	ListCell   *lc;

	initStringInfo(&system);
	foreach(lc, messages)
	{
		DwcMessage *m = lfirst(lc);

		if (strcmp(m->role, "system") != 0)
			continue;
		if (system.len > 0)
			appendStringInfoString(&system, "\n\n");
		appendStringInfoString(&system, m->content);
	}
	return system.len > 0 ? system.data : NULL;
}

/* Build a chat request: URL, headers and body, for the provider's kind. */
void
DwcWireChatRequest(const DwcProvider *p, const char *model, List *messages,
				   double temperature, int max_tokens, DwcHttpRequest *req)
{
	struct json_object *body = json_object_new_object();
	ListCell   *lc;

	req->method = "POST";
	switch (p->kind)
	{
		case DWC_PROVIDER_ANTHROPIC:
			{
				struct json_object *msgs = json_object_new_array();
				char	   *system = joined_system(messages);

				foreach(lc, messages)
				{
					DwcMessage *m = lfirst(lc);
					struct json_object *o;

					if (strcmp(m->role, "system") == 0)
						continue;
					o = json_object_new_object();
					json_object_object_add(o, "role", json_object_new_string(strcmp(m->role, "assistant") == 0 ?
																			 "assistant" : "user"));
					json_object_object_add(o, "content", json_object_new_string(m->content));
					json_object_array_add(msgs, o);
				}
				json_object_object_add(body, "model", json_object_new_string(model));
				json_object_object_add(body, "max_tokens", json_object_new_int(max_tokens));
				if (system)
					json_object_object_add(body, "system", json_object_new_string(system));
				json_object_object_add(body, "messages", msgs);
				if (temperature >= 0)
					json_object_object_add(body, "temperature", json_object_new_double(temperature));
				req->url = url_join(base_url(p), "/messages");
				DwcHttpAddHeader(req, "anthropic-version", "2023-06-01");
				break;
			}
		case DWC_PROVIDER_GOOGLE:
			{
				struct json_object *contents = json_object_new_array();
				struct json_object *config = json_object_new_object();
				char	   *system = joined_system(messages);

				foreach(lc, messages)
				{
					DwcMessage *m = lfirst(lc);
					struct json_object *o;
					struct json_object *parts;

					if (strcmp(m->role, "system") == 0)
						continue;
					o = json_object_new_object();
					parts = json_object_new_array();
					json_object_array_add(parts, text_part(m->content));
					json_object_object_add(o, "role", json_object_new_string(
																			 strcmp(m->role, "assistant") == 0 ? "model" : "user"));
					json_object_object_add(o, "parts", parts);
					json_object_array_add(contents, o);
				}
				json_object_object_add(body, "contents", contents);
				if (system)
				{
					struct json_object *si = json_object_new_object();
					struct json_object *parts = json_object_new_array();

					json_object_array_add(parts, text_part(system));
					json_object_object_add(si, "parts", parts);
					json_object_object_add(body, "systemInstruction", si);
				}
				json_object_object_add(config, "maxOutputTokens", json_object_new_int(max_tokens));
				if (temperature >= 0)
					json_object_object_add(config, "temperature", json_object_new_double(temperature));
				json_object_object_add(body, "generationConfig", config);
				req->url = url_join(base_url(p), psprintf("/models/%s:generateContent", model));
				break;
			}
		default:
			{
				struct json_object *msgs = json_object_new_array();

				foreach(lc, messages)
				{
					DwcMessage *m = lfirst(lc);
					struct json_object *o = json_object_new_object();

					json_object_object_add(o, "role", json_object_new_string(m->role));
					json_object_object_add(o, "content", json_object_new_string(m->content));
					json_object_array_add(msgs, o);
				}
				json_object_object_add(body, "model", json_object_new_string(model));
				json_object_object_add(body, "messages", msgs);
				json_object_object_add(body, "max_tokens", json_object_new_int(max_tokens));
				if (temperature >= 0)
					json_object_object_add(body, "temperature", json_object_new_double(temperature));
				req->url = url_join(base_url(p), "/chat/completions");
				break;
			}
	}
	add_auth(p, req);
	set_body(req, body);
}

/* object at a path of keys and array indexes ("choices", "0", "message"), or NULL */
static struct json_object *
path(struct json_object *o, int n, const char **steps)
{
	int			i;

	for (i = 0; i < n && o != NULL; i++)
	{
		if (json_object_is_type(o, json_type_array))
		{
			long		idx = strtol(steps[i], NULL, 10);

			if (idx < 0 || (size_t) idx >= json_object_array_length(o))
				return NULL;
			o = json_object_array_get_idx(o, idx);
		}
		else if (json_object_is_type(o, json_type_object))
		{
			if (!json_object_object_get_ex(o, steps[i], &o))
				return NULL;
		}
		else
			return NULL;
	}
	return o;
}

#define PATH(o, ...) path(o, lengthof(((const char *[]){__VA_ARGS__})), (const char *[]){__VA_ARGS__})

static int
int_at(struct json_object *o)
{
	return (o && (json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double)))
		? (int) json_object_get_int64(o) : 0;
}

/* Concatenate the "text" of each element of an array of parts. */
static bool
join_texts(struct json_object *arr, StringInfo out, const char *type_key, const char *type_value)
{
	size_t		i;
	bool		any = false;

	if (arr == NULL || !json_object_is_type(arr, json_type_array))
		return false;
	for (i = 0; i < json_object_array_length(arr); i++)
	{
		struct json_object *part = json_object_array_get_idx(arr, i);
		struct json_object *t;

		if (type_key)
		{
			struct json_object *ty;

			if (!json_object_object_get_ex(part, type_key, &ty) ||
				strcmp(json_object_get_string(ty), type_value) != 0)
				continue;
		}
		if (json_object_object_get_ex(part, "text", &t) && json_object_is_type(t, json_type_string))
		{
			appendStringInfoString(out, json_object_get_string(t));
			any = true;
		}
	}
	return any;
}

/*
 * Read a chat response: the generated text, or NULL with *problem set when
 * the JSON does not have the expected shape.
 */
char *
DwcWireChatResponse(const DwcProvider *p, const char *body, size_t len,
					int *tokens_in, int *tokens_out, char **problem)
{
	bool		ok;
	struct json_object *root = DwcJsoncTryParse(body, len, &ok);
	StringInfoData out;
	char	   *result = NULL;

	*problem = NULL;
	*tokens_in = *tokens_out = 0;
	if (root == NULL)
	{
		*problem = ok ? "the body is a JSON null" : "the body is not valid JSON";
		return NULL;
	}
	initStringInfo(&out);
	switch (p->kind)
	{
		case DWC_PROVIDER_ANTHROPIC:
			if (join_texts(PATH(root, "content"), &out, "type", "text"))
				result = out.data;
			else
				*problem = "no text block in \"content\"";
			*tokens_in = int_at(PATH(root, "usage", "input_tokens"));
			*tokens_out = int_at(PATH(root, "usage", "output_tokens"));
			break;
		case DWC_PROVIDER_GOOGLE:
			if (join_texts(PATH(root, "candidates", "0", "content", "parts"), &out, NULL, NULL))
				result = out.data;
			else
			{
				struct json_object *block = PATH(root, "promptFeedback", "blockReason");

				*problem = block ? psprintf("the prompt was blocked (%s)", json_object_get_string(block))
					: "no text in candidates[0].content.parts";
			}
			*tokens_in = int_at(PATH(root, "usageMetadata", "promptTokenCount"));
			*tokens_out = int_at(PATH(root, "usageMetadata", "candidatesTokenCount"));
			break;
		default:
			{
				struct json_object *c = PATH(root, "choices", "0", "message", "content");

				if (c && json_object_is_type(c, json_type_string))
					result = pstrdup(json_object_get_string(c));
				else
					*problem = "no string at choices[0].message.content";
				*tokens_in = int_at(PATH(root, "usage", "prompt_tokens"));
				*tokens_out = int_at(PATH(root, "usage", "completion_tokens"));
				break;
			}
	}
	json_object_put(root);
	return result;
}

void
DwcWireEmbedRequest(const DwcProvider *p, const char *model, const char *input, DwcHttpRequest *req)
{
	struct json_object *body = json_object_new_object();

	req->method = "POST";
	if (p->kind == DWC_PROVIDER_GOOGLE)
	{
		struct json_object *content = json_object_new_object();
		struct json_object *parts = json_object_new_array();

		json_object_array_add(parts, text_part(input));
		json_object_object_add(content, "parts", parts);
		json_object_object_add(body, "content", content);
		req->url = url_join(base_url(p), psprintf("/models/%s:embedContent", model));
	}
	else
	{
		json_object_object_add(body, "model", json_object_new_string(model));
		json_object_object_add(body, "input", json_object_new_string(input));
		req->url = url_join(base_url(p), "/embeddings");
	}
	add_auth(p, req);
	set_body(req, body);
}

float4 *
DwcWireEmbedResponse(const DwcProvider *p, const char *body, size_t len, int *dim, char **problem)
{
	bool		ok;
	struct json_object *root = DwcJsoncTryParse(body, len, &ok);
	struct json_object *vec;
	float4	   *out = NULL;
	size_t		i;
	size_t		n;

	*problem = NULL;
	*dim = 0;
	if (root == NULL)
	{
		*problem = ok ? "the body is a JSON null" : "the body is not valid JSON";
		return NULL;
	}
	vec = p->kind == DWC_PROVIDER_GOOGLE ?
		PATH(root, "embedding", "values") : PATH(root, "data", "0", "embedding");
	if (vec == NULL || !json_object_is_type(vec, json_type_array) ||
		(n = json_object_array_length(vec)) == 0 || n > 65536)
	{
		*problem = p->kind == DWC_PROVIDER_GOOGLE ? "no vector at embedding.values" :
			"no vector at data[0].embedding";
		json_object_put(root);
		return NULL;
	}
	out = palloc(sizeof(float4) * n);
	for (i = 0; i < n; i++)
	{
		struct json_object *x = json_object_array_get_idx(vec, i);

		if (!json_object_is_type(x, json_type_double) && !json_object_is_type(x, json_type_int))
		{
			*problem = "the embedding holds a value that is not a number";
			json_object_put(root);
			return NULL;
		}
		out[i] = (float4) json_object_get_double(x);
	}
	*dim = (int) n;
	json_object_put(root);
	return out;
}

/*
 * The provider's own error message from an error body ({"error": {"message":
 * ...}} for all three formats), or NULL.  The caller scrubs it of secrets.
 */
char *
DwcWireErrorText(const char *body, size_t len)
{
	struct json_object *root = NULL;
	struct json_object *m;
	char	   *result = NULL;

	bool		ok;

	if (len == 0 || len > 65536)
		return NULL;
	root = DwcJsoncTryParse(body, len, &ok);
	if (root == NULL)
		return NULL;
	m = PATH(root, "error", "message");
	if (m && json_object_is_type(m, json_type_string))
		result = pnstrdup(json_object_get_string(m), 300);
	json_object_put(root);
	return result;
}
