/*-------------------------------------------------------------------------
 *
 * http_sql.c
 *		dwc.http(): the outbound HTTP client as a SQL function.
 *
 * Meant for administrators and for tests of the client itself; it is not
 * granted to PUBLIC, as it lets its caller reach any address the server can
 * (including the server's own loopback services).
 *
 * src/core/http_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core/errors.h"
#include "core/http.h"

PG_FUNCTION_INFO_V1(dwc_http);

/* Response headers as a jsonb object; repeated headers are joined by ", ". */
static Jsonb *
headers_to_jsonb(List *headers)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	List	   *done = NIL;
	ListCell   *lc;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	foreach(lc, headers)
	{
		DwcHttpHeader *h = lfirst(lc);
		StringInfoData value;
		ListCell   *lc2;
		JsonbValue	k,
					v;

		if (list_member(done, makeString(h->name)))
			continue;
		done = lappend(done, makeString(h->name));

		initStringInfo(&value);
		for_each_cell(lc2, headers, lc)
		{
			DwcHttpHeader *h2 = lfirst(lc2);

			if (strcmp(h2->name, h->name) != 0)
				continue;
			if (value.len > 0)
				appendStringInfoString(&value, ", ");
			appendStringInfoString(&value, h2->value);
		}

		k.type = jbvString;
		k.val.string.val = h->name;
		k.val.string.len = strlen(h->name);
		v.type = jbvString;
		/* header bytes are not guaranteed to be valid text */
		v.val.string.val = pg_any_to_server(value.data, value.len, PG_SQL_ASCII);
		v.val.string.len = strlen(v.val.string.val);
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * dwc.http(method, url, headers, body, timeout_ms) returns dwc.http_response
 *
 * Any HTTP status is a result; transport failures (timeout, refused
 * connection, TLS, size cap, redirects) are errors.
 */
Datum
dwc_http(PG_FUNCTION_ARGS)
{
	DwcHttpRequest req;
	DwcHttpResponse resp;
	char	   *method;
	char	   *url;
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {0};

	DWC_REQUIRE_ARG(0, "method");
	DWC_REQUIRE_ARG(1, "url");
	method = text_to_cstring(PG_GETARG_TEXT_PP(0));
	url = text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	DwcHttpInitRequest(&req, method, url);
	if (!PG_ARGISNULL(2))
		DwcHttpAddHeadersFromJsonb(&req, &PG_GETARG_JSONB_P(2)->root);
	if (!PG_ARGISNULL(3))
	{
		text	   *body = PG_GETARG_TEXT_PP(3);

		req.body = VARDATA_ANY(body);
		req.body_len = VARSIZE_ANY_EXHDR(body);
	}
	if (!PG_ARGISNULL(4))
	{
		int32		timeout_ms = PG_GETARG_INT32(4);

		if (timeout_ms <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout_ms must be positive, not %d", timeout_ms)));
		req.timeout_ms = timeout_ms;
	}

	DwcHttpPerform(&req, &resp);
	if (resp.outcome != DWC_HTTP_OK)
		DwcHttpRaiseError(&req, &resp);

	if (!pg_verifymbstr(resp.body, resp.body_len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("HTTP response body from %s is not valid text in the database encoding",
						DwcHttpRedactUrl(url))));

	values[0] = Int32GetDatum((int32) resp.status);
	values[1] = JsonbPGetDatum(headers_to_jsonb(resp.headers));
	values[2] = PointerGetDatum(cstring_to_text_with_len(resp.body, resp.body_len));
	values[3] = Float8GetDatum(resp.elapsed_ms);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
