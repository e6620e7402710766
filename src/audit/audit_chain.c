/*-------------------------------------------------------------------------
 *
 * audit_chain.c
 *		The audit hash chain: row digests, chain steps, and the batch
 *		collector the sealer and dwc.audit_verify() read rows through.
 *
 * The sealer (dwc._audit_seal, in SQL) decides which rows a pass takes and
 * writes one dwc.audit_seal row per batch; the per-row work is here, in C,
 * because it runs for every audit row: reading the rows in (txid, id)
 * order, digesting each straight from its heap tuple, and laying ids and
 * digests out in chain order.  The encoding is documented in
 * docs/audit.md and pinned by the security regression test.
 *
 * src/audit/audit_chain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "core/dbworker.h"
#include "security/digest.h"

/* the columns of dwc.audit_log the chain covers, by number, and how to encode them */
static const struct
{
	int			attnum;
	char		kind;			/* i: int8, t: timestamptz, s: text, j: jsonb */
}			digest_columns[] =
{
	{1, 'i'}, {2, 't'}, {3, 'i'}, {4, 's'}, {5, 's'}, {6, 's'}, {7, 's'},
	{8, 'j'}, {9, 'j'}, {10, 'j'}, {11, 's'}, {12, 's'}
};

/* room for every column of dwc.audit_log (12 today) when a row is deformed */
#define AUDIT_DIGEST_NATTS 32

#define ATT_ID	1
#define ATT_AT	2
#define ATT_TXID 3

/* rows read per fetch when collecting a batch */
#define COLLECT_FETCH 1000

static void
append_field(StringInfo buf, char kind, const char *data, uint32 len)
{
	uint32		be = pg_hton32(len);

	appendStringInfoChar(buf, kind);
	appendBinaryStringInfo(buf, (const char *) &be, 4);
	if (len > 0)
		appendBinaryStringInfo(buf, data, len);
}

/*
 * The digest of one audit row: SHA-256 over its columns, each as a kind
 * byte, a 4-byte big-endian length and its bytes: integers and times as
 * 8-byte big-endian (times in microseconds since 1970, free of the
 * server's epoch and DateStyle), text as stored (database encoding), jsonb
 * as its canonical text.  NULL is kind 'n' with no bytes.  buf is scratch
 * space, reset here.
 */
static void
row_digest(HeapTuple tuple, TupleDesc desc, StringInfo buf, unsigned char *out)
{
	Datum		values[AUDIT_DIGEST_NATTS];
	bool		nulls[AUDIT_DIGEST_NATTS];
	int			i;

	if (desc->natts < digest_columns[lengthof(digest_columns) - 1].attnum || desc->natts > AUDIT_DIGEST_NATTS)
		elog(ERROR, "dwc.audit_log has %d columns: its digest covers 12, of at most %d", desc->natts,
			 AUDIT_DIGEST_NATTS);
	/* every column at once: one walk of the tuple, not one per column from its start */
	heap_deform_tuple(tuple, desc, values, nulls);
	resetStringInfo(buf);
	for (i = 0; i < (int) lengthof(digest_columns); i++)
	{
		Datum		v = values[digest_columns[i].attnum - 1];
		int64		n;

		if (nulls[digest_columns[i].attnum - 1])
		{
			append_field(buf, 'n', NULL, 0);
			continue;
		}
		switch (digest_columns[i].kind)
		{
			case 'i':
			case 't':
				n = DatumGetInt64(v);
				if (digest_columns[i].kind == 't')
					n += (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
				n = (int64) pg_hton64((uint64) n);
				append_field(buf, digest_columns[i].kind, (const char *) &n, 8);
				break;
			case 's':
				{
					text	   *t = DatumGetTextPP(v);

					append_field(buf, 's', VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					if ((Pointer) t != DatumGetPointer(v))
						pfree(t);
					break;
				}
			default:
				{
					Jsonb	   *j = DatumGetJsonbP(v);
					int			start;
					uint32		be;

					/* the text written in place, its length filled in after */
					append_field(buf, 'j', NULL, 0);
					start = buf->len;
					(void) JsonbToCString(buf, &j->root, VARSIZE(j));
					be = pg_hton32((uint32) (buf->len - start));
					memcpy(buf->data + start - 4, &be, 4);
					if ((Pointer) j != DatumGetPointer(v))
						pfree(j);
					break;
				}
		}
	}
	DwcSha256(buf->data, buf->len, out);
}

static bytea *
hash_bytea(const unsigned char *h)
{
	bytea	   *out = palloc(VARHDRSZ + 32);

	SET_VARSIZE(out, VARHDRSZ + 32);
	memcpy(VARDATA(out), h, 32);
	return out;
}

PG_FUNCTION_INFO_V1(dwc__audit_digest);

/*
 * dwc._audit_digest(dwc.audit_log) -> bytea: the digest of an audit row,
 * for outside checks and the regression test that pins the encoding.
 */
Datum
dwc__audit_digest(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	TupleDesc	desc;
	HeapTupleData tuple;
	StringInfoData buf;
	unsigned char hash[32];

	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row), HeapTupleHeaderGetTypMod(row));
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	initStringInfo(&buf);
	row_digest(&tuple, desc, &buf, hash);
	ReleaseTupleDesc(desc);
	pfree(buf.data);
	PG_RETURN_BYTEA_P(hash_bytea(hash));
}

PG_FUNCTION_INFO_V1(dwc__audit_chain);

/*
 * dwc._audit_chain(head bytea, digests bytea) -> bytea: the chain
 * h(i) = SHA-256(h(i-1) || digest(i)) from h(0) = head over the 32-byte
 * digests laid end to end; returns the last h.  The sealer and
 * dwc.audit_verify() run it over a whole batch in one call.
 */
Datum
dwc__audit_chain(PG_FUNCTION_ARGS)
{
	bytea	   *head = PG_GETARG_BYTEA_PP(0);
	bytea	   *digests = PG_GETARG_BYTEA_PP(1);
	const unsigned char *d = (const unsigned char *) VARDATA_ANY(digests);
	Size		len = VARSIZE_ANY_EXHDR(digests);
	unsigned char buf[64];
	Size		off;

	if (VARSIZE_ANY_EXHDR(head) != 32)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a chain head is 32 bytes, not %d", (int) VARSIZE_ANY_EXHDR(head))));
	if (len % 32 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("digests are 32 bytes each; %zu bytes is not a whole number of them", len)));
	memcpy(buf, VARDATA_ANY(head), 32);
	for (off = 0; off < len; off += 32)
	{
		unsigned char h[32];

		if ((off & 0x3FFFF) == 0)
			DWC_CHECK_FOR_INTERRUPTS();
		memcpy(buf + 32, d + off, 32);
		DwcSha256(buf, 64, h);
		memcpy(buf, h, 32);
	}
	PG_RETURN_BYTEA_P(hash_bytea(buf));
}

PG_FUNCTION_INFO_V1(dwc__audit_collect);

/*
 * dwc._audit_collect(after_txid, after_id, before_txid, upto_txid, upto_id,
 * max_rows) -> (n, ids, digests, first_txid, first_id, last_txid, last_id,
 * min_at): the audit rows with (txid, id) > (after_txid, after_id), txid <
 * before_txid and, unless upto_txid is NULL, (txid, id) <= (upto_txid,
 * upto_id), in (txid, id) order, at most max_rows of them: their ids, their
 * digests end to end, the first and last (txid, id) and the oldest time.
 * The sealer takes its next batch with it; dwc.audit_verify() re-reads a
 * sealed batch's range with it and compares.  The rows are read through
 * the (txid, id) index a fetch at a time, so memory stays bounded by the
 * batch's ids and digests.
 */
Datum
dwc__audit_collect(PG_FUNCTION_ARGS)
{
	int64		after_txid = PG_GETARG_INT64(0);
	int64		after_id = PG_GETARG_INT64(1);
	int64		before_txid = PG_GETARG_INT64(2);
	bool		has_upto = !PG_ARGISNULL(3) && !PG_ARGISNULL(4);
	int32		max_rows = PG_GETARG_INT32(5);
	TupleDesc	rdesc;
	MemoryContext callcxt = CurrentMemoryContext;
	MemoryContext rowcxt;
	Datum	   *ids;
	StringInfoData digests;
	StringInfoData scratch;
	Oid			types[6] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT4OID};
	Datum		args[6];
	char		nulls[6] = "      ";
	Portal		portal;
	int			n = 0;
	int64		first_txid = 0,
				first_id = 0,
				last_txid = 0,
				last_id = 0;
	TimestampTz min_at = DT_NOEND;
	Datum		values[8];
	bool		isnull[8] = {false};

	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1, not %d", max_rows)));
	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "dwc._audit_collect must return a record");
	rdesc = BlessTupleDesc(rdesc);

	ids = palloc(sizeof(Datum) * Min(max_rows, COLLECT_FETCH));
	initStringInfo(&digests);
	initStringInfo(&scratch);
	/*
	 * What a row's digest leaves behind (detoasted values, jsonb's copies of
	 * its strings, numbers' text) goes with the row: kept until the end of
	 * the call, it was a batch's worth of garbage and a quarter of the time
	 * spent zeroing fresh pages for it.
	 */
	rowcxt = AllocSetContextCreate(callcxt, "dwc audit digest row", ALLOCSET_DEFAULT_SIZES);
	args[0] = Int64GetDatum(after_txid);
	args[1] = Int64GetDatum(after_id);
	args[2] = Int64GetDatum(before_txid);
	args[3] = has_upto ? PG_GETARG_DATUM(3) : Int64GetDatum(0);
	args[4] = has_upto ? PG_GETARG_DATUM(4) : Int64GetDatum(0);
	args[5] = Int32GetDatum(max_rows);
	if (!has_upto)
		nulls[3] = nulls[4] = 'n';

	SPI_connect();
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT * FROM dwc.audit_log a"
									   " WHERE (a.txid, a.id) > ($1, $2) AND a.txid < $3"
									   "   AND ($4 IS NULL OR (a.txid, a.id) <= ($4, $5))"
									   " ORDER BY a.txid, a.id LIMIT $6",
									   6, types, args, nulls, true, CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		uint64		i;

		DWC_CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, COLLECT_FETCH);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		null;
			int64		id = DatumGetInt64(heap_getattr(tup, ATT_ID, desc, &null));
			int64		txid = DatumGetInt64(heap_getattr(tup, ATT_TXID, desc, &null));
			TimestampTz at = DatumGetTimestampTz(heap_getattr(tup, ATT_AT, desc, &null));
			unsigned char h[32];
			MemoryContext old;

			old = MemoryContextSwitchTo(rowcxt);
			row_digest(tup, desc, &scratch, h);
			MemoryContextSwitchTo(callcxt);
			MemoryContextReset(rowcxt);
			if (n > 0 && n % COLLECT_FETCH == 0)
				ids = repalloc(ids, sizeof(Datum) * (n + COLLECT_FETCH));
			ids[n] = Int64GetDatum(id);
			appendBinaryStringInfo(&digests, (const char *) h, 32);
			MemoryContextSwitchTo(old);
			if (n == 0)
			{
				first_txid = txid;
				first_id = id;
			}
			last_txid = txid;
			last_id = id;
			if (at < min_at)
				min_at = at;
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextDelete(rowcxt);

	values[0] = Int32GetDatum(n);
	if (n > 0)
	{
		bytea	   *d = palloc(VARHDRSZ + digests.len);

		SET_VARSIZE(d, VARHDRSZ + digests.len);
		memcpy(VARDATA(d), digests.data, digests.len);
		values[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(d);
		values[3] = Int64GetDatum(first_txid);
		values[4] = Int64GetDatum(first_id);
		values[5] = Int64GetDatum(last_txid);
		values[6] = Int64GetDatum(last_id);
		values[7] = TimestampTzGetDatum(min_at);
	}
	else
	{
		int			k;

		for (k = 1; k < 8; k++)
			isnull[k] = true;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(rdesc, values, isnull)));
}
