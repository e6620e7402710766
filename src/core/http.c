/*-------------------------------------------------------------------------
 *
 * http.c
 *		dwc's outbound HTTP client over libcurl's easy interface.
 *
 * Rules that keep a backend safe while libcurl runs inside it:
 *
 * - libcurl's callbacks never palloc or ereport: a longjmp through libcurl
 *   would leak its handles and leave it in an undefined state.  They collect
 *   into malloc'd buffers and report problems through flags; everything is
 *   copied into palloc'd memory and reported after curl_easy_perform returns.
 *
 * - Debian's libcurl resolves names in a helper thread.  PostgreSQL's signal
 *   handlers must only run in the backend's main thread, so all signals are
 *   blocked while libcurl runs (a thread inherits its creator's mask) and let
 *   in only from the progress callback, which libcurl calls at least once a
 *   second.  A pending cancel, statement_timeout or SIGTERM aborts the
 *   transfer there, and CHECK_FOR_INTERRUPTS reports it afterwards.
 *
 * - Every transfer has a total timeout and a size cap, only http and https
 *   are allowed (also for redirects), and TLS verification is always on.
 *
 * src/core/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include <curl/curl.h>

#include "lib/stringinfo.h"
#include "libpq/pqsignal.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/jsonb.h"

#include "core/dbworker.h"
#include "core/guc.h"
#include "core/http.h"

#define DWC_USER_AGENT "dwc/" DWC_VERSION

/* what the callbacks collect, in malloc'd memory */
typedef struct Transfer
{
	char	   *buf;
	size_t		len;
	size_t		cap;
	size_t		limit;
	bool		too_large;
	bool		oom;
	struct curl_slist *headers; /* raw "Name: value" lines of the last response */
	DwcCurlGuard guard;
} Transfer;

static bool curl_initialized = false;

void
DwcCurlEnsureInit(void)
{
	CURLcode	rc;

	if (curl_initialized)
		return;
	rc = curl_global_init(CURL_GLOBAL_ALL);
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl: %s", curl_easy_strerror(rc))));
	curl_initialized = true;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Transfer   *t = (Transfer *) userdata;
	size_t		n = size * nmemb;

	if (t->len + n > t->limit)
	{
		t->too_large = true;
		return 0;				/* makes libcurl fail with CURLE_WRITE_ERROR */
	}
	if (t->len + n + 1 > t->cap)
	{
		size_t		newcap = Max(t->cap * 2, t->len + n + 1);
		char	   *nb;

		newcap = Max(newcap, 4096);
		nb = realloc(t->buf, newcap);
		if (nb == NULL)
		{
			t->oom = true;
			return 0;
		}
		t->buf = nb;
		t->cap = newcap;
	}
	memcpy(t->buf + t->len, ptr, n);
	t->len += n;
	return n;
}

static size_t
header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	Transfer   *t = (Transfer *) userdata;
	size_t		n = size * nitems;
	size_t		len = n;
	char		line[8192];
	struct curl_slist *l;

	/* a status line starts a new response (after a redirect or a 100) */
	if (n >= 5 && strncmp(buffer, "HTTP/", 5) == 0)
	{
		curl_slist_free_all(t->headers);
		t->headers = NULL;
		return n;
	}
	while (len > 0 && (buffer[len - 1] == '\r' || buffer[len - 1] == '\n'))
		len--;
	if (len == 0 || len >= sizeof(line))
		return n;				/* the blank end line, or an absurd header */
	memcpy(line, buffer, len);
	line[len] = '\0';
	l = curl_slist_append(t->headers, line);
	if (l == NULL)
	{
		t->oom = true;
		return 0;
	}
	t->headers = l;
	return n;
}

/*
 * libcurl's progress callback: the one place where signals are let in while
 * a transfer runs.  Returning non-zero aborts the transfer.
 */
static int
progress_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	DwcCurlGuard *g = (DwcCurlGuard *) userdata;

	sigprocmask(SIG_SETMASK, &g->saved_mask, NULL);
	/* pending signals have been delivered here and set their flags */
	sigprocmask(SIG_SETMASK, &BlockSig, NULL);

	/* a worker stopping gracefully lets the transfer finish, for dwc.shutdown_grace */
	if (DwcStopRequested)
		DwcEnforceStopGrace();
	if (QueryCancelPending || ProcDiePending || DwcPostmasterGone())
	{
		g->interrupted = true;
		return 1;
	}
	return 0;
}

/*
 * Run a prepared easy handle: signals blocked while libcurl runs, let in from
 * the progress callback; an interrupt that aborted the transfer is raised
 * here ("<what> was interrupted"), after libcurl has returned.  The caller has saved the signal mask in
 * g->saved_mask (and restores it in its PG_FINALLY).
 */
int
DwcCurlPerform(void *handle, DwcCurlGuard *g, const char *what)
{
	CURL	   *curl = (CURL *) handle;
	CURLcode	rc;

	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, g);
	/* an orphaned worker sends nothing more (its record of sending would be lost) */
	if (DwcPostmasterGone())
		DwcPostmasterDied();
	g->interrupted = false;
	sigprocmask(SIG_SETMASK, &BlockSig, &g->saved_mask);
	rc = curl_easy_perform(curl);
	sigprocmask(SIG_SETMASK, &g->saved_mask, NULL);
	if (g->interrupted)
	{
		CHECK_FOR_INTERRUPTS();
		if (DwcPostmasterGone())
			DwcPostmasterDied();
		/* the interrupt was held off: still, the transfer is gone */
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("%s was interrupted", what)));
	}
	return (int) rc;
}

void
DwcHttpInitRequest(DwcHttpRequest *req, const char *method, const char *url)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = url;
	req->max_redirects = -1;
}

/*
 * Add a request header, checking that it cannot smuggle another header or
 * request line into the message.
 */
void
DwcHttpAddHeader(DwcHttpRequest *req, const char *name, const char *value)
{
	DwcHttpHeader *h;
	const char *p;

	if (*name == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("HTTP header name must not be empty")));
	for (p = name; *p; p++)
	{
		if (!(isalnum((unsigned char) *p) || strchr("!#$%&'*+-.^_`|~", *p)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid HTTP header name \"%s\"", name),
					 errdetail("Header names consist of letters, digits and !#$%%&'*+-.^_`|~.")));
	}
	if (strpbrk(value, "\r\n") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value of HTTP header \"%s\" contains a line break", name)));

	h = palloc(sizeof(DwcHttpHeader));
	h->name = pstrdup(name);
	h->value = pstrdup(value);
	req->headers = lappend(req->headers, h);
}

/* Add the headers of a JSON object of strings, e.g. {"Content-Type": "application/json"}. */
void
DwcHttpAddHeadersFromJsonb(DwcHttpRequest *req, JsonbContainer *headers)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	char	   *name = NULL;

	if (!JsonContainerIsObject(headers))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("HTTP headers must be a JSON object of strings"),
				 errhint("For example: '{\"Content-Type\": \"application/json\"}'.")));
	it = JsonbIteratorInit(headers);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			name = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of HTTP header \"%s\" must be a string", name)));
			DwcHttpAddHeader(req, name, pnstrdup(v.val.string.val, v.val.string.len));
		}
	}
}

static bool
has_header(const DwcHttpRequest *req, const char *name)
{
	ListCell   *lc;

	foreach(lc, req->headers)
	{
		if (pg_strcasecmp(((DwcHttpHeader *) lfirst(lc))->name, name) == 0)
			return true;
	}
	return false;
}

static void
check_method(const char *method)
{
	const char *p;

	if (method == NULL || *method == '\0' || strlen(method) > 16)
		goto bad;
	for (p = method; *p; p++)
	{
		if (*p < 'A' || *p > 'Z')
			goto bad;
	}
	return;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid HTTP method \"%s\"", method ? method : ""),
			 errhint("Use an upper-case method such as GET, POST, PUT, PATCH, DELETE or HEAD.")));
}

static DwcHttpOutcome
outcome_of(CURLcode rc, const Transfer *t)
{
	switch (rc)
	{
		case CURLE_OK:
			return DWC_HTTP_OK;
		case CURLE_OPERATION_TIMEDOUT:
			return DWC_HTTP_TIMEOUT;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
			return DWC_HTTP_CONNECT_FAILED;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_INVALIDCERTSTATUS:
			return DWC_HTTP_TLS_FAILED;
		case CURLE_FILESIZE_EXCEEDED:
			return DWC_HTTP_TOO_LARGE;
		case CURLE_WRITE_ERROR:
			return t->too_large ? DWC_HTTP_TOO_LARGE : DWC_HTTP_FAILED;
		case CURLE_TOO_MANY_REDIRECTS:
			return DWC_HTTP_TOO_MANY_REDIRECTS;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			return DWC_HTTP_BAD_URL;
		default:
			return DWC_HTTP_FAILED;
	}
}

/* Copy the collected header lines into palloc'd, lower-cased pairs. */
static List *
copy_headers(struct curl_slist *lines)
{
	List	   *result = NIL;
	struct curl_slist *l;

	for (l = lines; l != NULL; l = l->next)
	{
		char	   *colon = strchr(l->data, ':');
		DwcHttpHeader *h;
		char	   *p;

		if (colon == NULL)
			continue;
		h = palloc(sizeof(DwcHttpHeader));
		h->name = pnstrdup(l->data, colon - l->data);
		for (p = h->name; *p; p++)
			*p = pg_tolower((unsigned char) *p);
		p = colon + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		h->value = pstrdup(p);
		result = lappend(result, h);
	}
	return result;
}

/*
 * Perform one HTTP request.  Transport failures are reported in
 * resp->outcome; interrupts and out-of-memory raise errors.
 */
void
DwcHttpPerform(const DwcHttpRequest *req, DwcHttpResponse *resp)
{
	CURL	   *curl;
	struct curl_slist *volatile reqheaders = NULL;
	Transfer   *t;
	char		errbuf[CURL_ERROR_SIZE];
	long		timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : dwc_http_timeout_ms;
	long		connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : dwc_http_connect_timeout_ms;
	long		redirects = req->max_redirects >= 0 ? req->max_redirects : dwc_http_max_redirects;
	int64		limit = req->max_response_bytes > 0 ? req->max_response_bytes :
		(int64) dwc_http_max_response_kb * 1024;
	ListCell   *lc;
	CURLcode	rc;
	instr_time	start,
				elapsed;

	memset(resp, 0, sizeof(*resp));
	check_method(req->method);
	if (req->url == NULL || *req->url == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("HTTP request URL must not be empty")));
	DwcCurlEnsureInit();

	/* everything that may palloc happens before libcurl owns any memory */
	t = palloc0(sizeof(Transfer));
	t->limit = (size_t) limit;
	errbuf[0] = '\0';

	foreach(lc, req->headers)
	{
		DwcHttpHeader *h = lfirst(lc);
		char	   *line = psprintf("%s: %s", h->name, h->value);
		struct curl_slist *l = curl_slist_append(reqheaders, line);

		pfree(line);
		if (l == NULL)
		{
			curl_slist_free_all(reqheaders);
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		reqheaders = l;
	}
	/* no "Expect: 100-continue" round trip before sending a body */
	if (!has_header(req, "Expect"))
	{
		struct curl_slist *l = curl_slist_append(reqheaders, "Expect:");

		if (l == NULL)
		{
			curl_slist_free_all(reqheaders);
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		reqheaders = l;
	}

	/* restored by PG_FINALLY whatever happens */
	sigprocmask(SIG_SETMASK, NULL, &t->guard.saved_mask);

	curl = curl_easy_init();
	if (curl == NULL)
	{
		curl_slist_free_all(reqheaders);
		curl_easy_cleanup(curl);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create an HTTP handle")));
	}

	PG_TRY();
	{
		curl_easy_setopt(curl, CURLOPT_URL, req->url);
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, redirects > 0 ? 1L : 0L);
		curl_easy_setopt(curl, CURLOPT_MAXREDIRS, redirects);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, Min(connect_ms, timeout_ms));
		curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) limit);
		curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
		if (!has_header(req, "User-Agent"))
			curl_easy_setopt(curl, CURLOPT_USERAGENT, DWC_USER_AGENT);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, reqheaders);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);

		if (req->body != NULL)
		{
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
			if (strcmp(req->method, "POST") != 0)
				curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
		}
		else if (strcmp(req->method, "GET") == 0)
			curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
		else if (strcmp(req->method, "HEAD") == 0)
			curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
		else if (strcmp(req->method, "POST") == 0)
		{
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
		}
		else
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);

		INSTR_TIME_SET_CURRENT(start);
		rc = (CURLcode) DwcCurlPerform(curl, &t->guard, "HTTP request");
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		resp->elapsed_ms = INSTR_TIME_GET_MILLISEC(elapsed);

		if (t->oom)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
							errmsg("out of memory while receiving an HTTP response")));

		resp->outcome = outcome_of(rc, t);
		if (resp->outcome == DWC_HTTP_OK)
		{
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
			resp->headers = copy_headers(t->headers);
			resp->body = palloc(t->len + 1);
			if (t->len > 0)
				memcpy(resp->body, t->buf, t->len);
			resp->body[t->len] = '\0';
			resp->body_len = t->len;
		}
		else if (resp->outcome == DWC_HTTP_TOO_LARGE)
			resp->error = psprintf("The response is larger than the limit of " INT64_FORMAT " bytes.",
								   limit);
		else
			resp->error = pstrdup(errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	PG_FINALLY();
	{
		sigprocmask(SIG_SETMASK, &t->guard.saved_mask, NULL);
		curl_easy_cleanup(curl);
		curl_slist_free_all(reqheaders);
		curl_slist_free_all(t->headers);
		free(t->buf);
	}
	PG_END_TRY();
	pfree(t);
}

/*
 * The URL without userinfo, query or fragment, for messages: API keys are
 * often passed as ?key=..., and messages end up in logs.
 */
char *
DwcHttpRedactUrl(const char *url)
{
	const char *scheme_end = strstr(url, "://");
	const char *authority = scheme_end ? scheme_end + 3 : url;
	const char *path = authority + strcspn(authority, "/?#");
	const char *at;
	const char *end = path + strcspn(path, "?#");
	StringInfoData s;

	initStringInfo(&s);
	if (scheme_end)
		appendBinaryStringInfo(&s, url, authority - url);
	/* userinfo is everything up to the last '@' of the authority */
	at = NULL;
	for (const char *p = authority; p < path; p++)
		if (*p == '@')
			at = p;
	if (at)
		authority = at + 1;
	appendBinaryStringInfo(&s, authority, end - authority);
	if (*end == '?')
		appendStringInfoString(&s, "?...");
	return s.data;
}

/* Failures worth retrying: the same request may succeed later. */
bool
DwcHttpOutcomeIsTransient(DwcHttpOutcome outcome)
{
	return outcome == DWC_HTTP_TIMEOUT || outcome == DWC_HTTP_CONNECT_FAILED ||
		outcome == DWC_HTTP_FAILED;
}

#define DETAIL_IF(d) ((d) ? errdetail_internal("%s", (d)) : 0)

void
DwcHttpRaiseError(const DwcHttpRequest *req, const DwcHttpResponse *resp)
{
	char	   *url = DwcHttpRedactUrl(req->url);
	const char *detail = resp->error;

	switch (resp->outcome)
	{
		case DWC_HTTP_TIMEOUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("HTTP request to %s timed out", url),
					 DETAIL_IF(detail),
					 errhint("Raise dwc.http_timeout, or the request's own timeout, for slow services.")));
			break;
		case DWC_HTTP_CONNECT_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to %s", url),
					 DETAIL_IF(detail)));
			break;
		case DWC_HTTP_TLS_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("TLS connection to %s failed", url),
					 DETAIL_IF(detail),
					 errhint("dwc always verifies the server certificate; the server needs a certificate "
							 "trusted by the system's CA store and valid for its host name.")));
			break;
		case DWC_HTTP_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("HTTP response from %s is too large", url),
					 DETAIL_IF(detail),
					 errhint("Raise dwc.http_max_response_size if such responses are expected.")));
			break;
		case DWC_HTTP_TOO_MANY_REDIRECTS:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("HTTP request to %s was redirected too many times", url),
					 DETAIL_IF(detail),
					 errhint("dwc.http_max_redirects limits the number of redirects followed.")));
			break;
		case DWC_HTTP_BAD_URL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid HTTP URL \"%s\"", url),
					 DETAIL_IF(detail),
					 errhint("Only absolute http:// and https:// URLs are supported.")));
			break;
		case DWC_HTTP_FAILED:
		case DWC_HTTP_OK:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("HTTP request to %s failed", url),
					 DETAIL_IF(detail)));
			break;
	}
	pg_unreachable();
}

/*
 * A one-line description of a failed request, for job errors and logs (the
 * same wording as DwcHttpRaiseError's messages).
 */
char *
DwcHttpDescribeFailure(const DwcHttpRequest *req, const DwcHttpResponse *resp)
{
	char	   *url = DwcHttpRedactUrl(req->url);
	const char *what;

	switch (resp->outcome)
	{
		case DWC_HTTP_TIMEOUT:
			what = psprintf("HTTP request to %s timed out", url);
			break;
		case DWC_HTTP_CONNECT_FAILED:
			what = psprintf("could not connect to %s", url);
			break;
		case DWC_HTTP_TLS_FAILED:
			what = psprintf("TLS connection to %s failed", url);
			break;
		case DWC_HTTP_TOO_LARGE:
			what = psprintf("HTTP response from %s is too large", url);
			break;
		case DWC_HTTP_TOO_MANY_REDIRECTS:
			what = psprintf("HTTP request to %s was redirected too many times", url);
			break;
		case DWC_HTTP_BAD_URL:
			what = psprintf("invalid HTTP URL \"%s\"", url);
			break;
		default:
			what = psprintf("HTTP request to %s failed", url);
			break;
	}
	return resp->error ? psprintf("%s: %s", what, resp->error) : (char *) what;
}

/* The value of a response header (name in lower case), or NULL. */
const char *
DwcHttpHeaderValue(const DwcHttpResponse *resp, const char *name)
{
	ListCell   *lc;

	foreach(lc, resp->headers)
	{
		DwcHttpHeader *h = lfirst(lc);

		if (strcmp(h->name, name) == 0)
			return h->value;
	}
	return NULL;
}
