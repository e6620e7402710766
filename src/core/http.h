/*-------------------------------------------------------------------------
 *
 * http.h
 *		dwc's outbound HTTP client (libcurl, synchronous, interruptible).
 *
 * Every outbound call of dwc (AI providers, webhooks, the queue's http jobs)
 * goes through DwcHttpPerform, which enforces the dwc.http_* limits: a total
 * and a connect timeout, a response size cap, a bounded number of
 * redirects, http/https only, TLS peer and host verification always on.
 *
 * DwcHttpPerform reports transport failures in the response (so callers can
 * decide to retry) and raises errors only for interrupts (query cancel,
 * statement_timeout, SIGTERM) and out-of-memory.  DwcHttpRaiseError turns a
 * failed response into an ereport.  URLs in messages are redacted: no
 * userinfo, no query string (API keys often travel there).
 *
 * src/core/http.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_HTTP_H
#define DWC_HTTP_H

#include <signal.h>

#include "nodes/pg_list.h"

typedef struct DwcHttpHeader
{
	char	   *name;
	char	   *value;
} DwcHttpHeader;

typedef struct DwcHttpRequest
{
	const char *method;			/* GET, POST, PUT, PATCH, DELETE, HEAD ... */
	const char *url;
	List	   *headers;		/* of DwcHttpHeader * */
	const char *body;			/* NULL for none */
	size_t		body_len;
	int			timeout_ms;		/* <= 0: dwc.http_timeout */
	int			connect_timeout_ms; /* <= 0: dwc.http_connect_timeout */
	int64		max_response_bytes; /* <= 0: dwc.http_max_response_size */
	int			max_redirects;	/* < 0: dwc.http_max_redirects */
} DwcHttpRequest;

typedef enum DwcHttpOutcome
{
	DWC_HTTP_OK = 0,			/* a response arrived, whatever its status */
	DWC_HTTP_TIMEOUT,
	DWC_HTTP_CONNECT_FAILED,	/* name resolution, refused, unreachable */
	DWC_HTTP_TLS_FAILED,
	DWC_HTTP_TOO_LARGE,
	DWC_HTTP_TOO_MANY_REDIRECTS,
	DWC_HTTP_BAD_URL,
	DWC_HTTP_FAILED				/* any other transport failure */
} DwcHttpOutcome;

typedef struct DwcHttpResponse
{
	DwcHttpOutcome outcome;
	char	   *error;			/* what went wrong, NULL when outcome is OK */
	long		status;			/* HTTP status code, 0 without a response */
	List	   *headers;		/* of DwcHttpHeader *, lower-case names */
	char	   *body;			/* NUL-terminated copy; may contain NULs */
	size_t		body_len;
	double		elapsed_ms;
} DwcHttpResponse;

/* in http.c */
extern void DwcHttpInitRequest(DwcHttpRequest *req, const char *method, const char *url);
extern void DwcHttpAddHeader(DwcHttpRequest *req, const char *name, const char *value);
struct JsonbContainer;
extern void DwcHttpAddHeadersFromJsonb(DwcHttpRequest *req, struct JsonbContainer *headers);
extern void DwcHttpPerform(const DwcHttpRequest *req, DwcHttpResponse *resp);
extern void DwcHttpRaiseError(const DwcHttpRequest *req, const DwcHttpResponse *resp)
			pg_attribute_noreturn();
extern char *DwcHttpDescribeFailure(const DwcHttpRequest *req, const DwcHttpResponse *resp);
extern const char *DwcHttpHeaderValue(const DwcHttpResponse *resp, const char *name);
extern char *DwcHttpRedactUrl(const char *url);
extern bool DwcHttpOutcomeIsTransient(DwcHttpOutcome outcome);

/*
 * For other libcurl transfers (SMTP): the same rules on signals and
 * interrupts.  Save the signal mask into saved_mask before, restore it in
 * PG_FINALLY; DwcCurlPerform returns the CURLcode.
 */
typedef struct DwcCurlGuard
{
	sigset_t	saved_mask;
	bool		interrupted;
} DwcCurlGuard;

extern void DwcCurlEnsureInit(void);
extern int	DwcCurlPerform(void *curl, DwcCurlGuard *g, const char *what);

#endif							/* DWC_HTTP_H */
