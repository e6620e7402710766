/*-------------------------------------------------------------------------
 *
 * smtp.c
 *		Sending one email over SMTP with libcurl.
 *
 * The transfer follows core/http.c's rules (signals blocked while libcurl
 * runs, interrupts let in from its progress callback, TLS verification on,
 * a total timeout).  What the outcome means for a retry is decided here:
 * the server's 4xx replies, and failures to connect or talk, are transient;
 * its 5xx replies (no such mailbox, authentication refused) and TLS failures
 * are not, and retrying them would only repeat them.
 *
 * src/notify/smtp.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "core/errors.h"
#include "core/http.h"

/* the message, read by libcurl; no palloc or ereport in the callback */
typedef struct Upload
{
	const char *data;
	size_t		len;
	size_t		pos;
} Upload;

static size_t
read_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	Upload	   *u = (Upload *) userdata;
	size_t		n = Min(size * nitems, u->len - u->pos);

	memcpy(buffer, u->data + u->pos, n);
	u->pos += n;
	return n;
}

static bool
transient(CURLcode rc, long code)
{
	if (code >= 500 && code < 600)
		return false;
	if (code >= 400 && code < 500)
		return true;
	switch (rc)
	{
		case CURLE_LOGIN_DENIED:
		case CURLE_URL_MALFORMAT:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_USE_SSL_FAILED:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
			return false;
		default:
			return true;
	}
}

static char *
text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* "addr" as "<addr>", the form MAIL FROM and RCPT TO take */
static char *
angle(const char *addr)
{
	return addr[0] == '<' ? pstrdup(addr) : psprintf("<%s>", addr);
}

PG_FUNCTION_INFO_V1(dwc__smtp_send);

/*
 * dwc._smtp_send(url, username, password, mail_from, recipients text[],
 * message, tls, ca_file, timeout_ms) returns jsonb {"ok", "code", "error",
 * "transient"}
 */
Datum
dwc__smtp_send(PG_FUNCTION_ARGS)
{
	char	   *url;
	char	   *username = text_arg(fcinfo, 1);
	char	   *password = text_arg(fcinfo, 2);
	char	   *mail_from;
	char	   *message;
	char	   *tls = text_arg(fcinfo, 6);
	char	   *ca_file = text_arg(fcinfo, 7);
	int			timeout_ms = PG_ARGISNULL(8) ? 30000 : PG_GETARG_INT32(8);
	ArrayType  *rcpts;
	Datum	   *elems;
	bool	   *nulls;
	int			nrcpt;
	struct curl_slist *volatile rcpt_list = NULL;
	CURL	   *volatile curl = NULL;
	Upload		upload;
	DwcCurlGuard guard;
	char		errbuf[CURL_ERROR_SIZE] = "";
	volatile CURLcode rc = CURLE_OK;
	volatile long code = 0;
	StringInfoData out;
	char	   *volatile detail = NULL;

	DWC_REQUIRE_ARG(0, "url");
	DWC_REQUIRE_ARG(3, "mail_from");
	DWC_REQUIRE_ARG(4, "recipients");
	DWC_REQUIRE_ARG(5, "message");
	url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	mail_from = angle(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	message = text_to_cstring(PG_GETARG_TEXT_PP(5));
	rcpts = PG_GETARG_ARRAYTYPE_P(4);
	deconstruct_array(rcpts, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nrcpt);
	if (nrcpt == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("an email needs a recipient")));
	if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("an SMTP server's URL starts with smtp:// or smtps://")));
	if (tls != NULL && strcmp(tls, "required") != 0 && strcmp(tls, "try") != 0 && strcmp(tls, "none") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tls must be required, try or none")));
	if (timeout_ms <= 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("timeout_ms must be positive")));

	DwcCurlEnsureInit();
	for (int i = 0; i < nrcpt; i++)
	{
		struct curl_slist *l;

		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a recipient is NULL")));
		l = curl_slist_append(rcpt_list, angle(TextDatumGetCString(elems[i])));
		if (l == NULL)
		{
			curl_slist_free_all(rcpt_list);
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		rcpt_list = l;
	}
	upload.data = message;
	upload.len = strlen(message);
	upload.pos = 0;

	sigprocmask(SIG_SETMASK, NULL, &guard.saved_mask);
	PG_TRY();
	{
		curl = curl_easy_init();
		if (curl == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create an SMTP handle")));
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
		curl_easy_setopt(curl, CURLOPT_USE_SSL,
						 tls == NULL || strcmp(tls, "required") == 0 ? (long) CURLUSESSL_ALL
						 : strcmp(tls, "try") == 0 ? (long) CURLUSESSL_TRY : (long) CURLUSESSL_NONE);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
		if (ca_file != NULL)
			curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
		if (username != NULL)
		{
			curl_easy_setopt(curl, CURLOPT_USERNAME, username);
			curl_easy_setopt(curl, CURLOPT_PASSWORD, password ? password : "");
		}
		curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from);
		curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt_list);
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) upload.len);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) Min(timeout_ms, 10000));

		rc = (CURLcode) DwcCurlPerform(curl, &guard, "SMTP send");
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
		if (rc != CURLE_OK && code > 0)
			detail = psprintf("the server replied %ld (%s)", (long) code, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		else if (rc != CURLE_OK)
			detail = pstrdup(errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	PG_FINALLY();
	{
		sigprocmask(SIG_SETMASK, &guard.saved_mask, NULL);
		if (curl != NULL)
			curl_easy_cleanup(curl);
		curl_slist_free_all(rcpt_list);
	}
	PG_END_TRY();

	initStringInfo(&out);
	appendStringInfo(&out, "{\"ok\": %s, \"code\": %ld", rc == CURLE_OK ? "true" : "false", code);
	if (rc != CURLE_OK)
	{
		appendStringInfoString(&out, ", \"error\": ");
		escape_json(&out, detail);
		appendStringInfo(&out, ", \"transient\": %s", transient(rc, code) ? "true" : "false");
	}
	appendStringInfoChar(&out, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
