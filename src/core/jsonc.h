/*-------------------------------------------------------------------------
 *
 * jsonc.h
 *		Conversion between jsonb and json-c, and strict JSON parsing.
 *
 * json-c objects are malloc'd and reference counted: whoever receives one
 * from these functions owns a reference and must json_object_put() it, also
 * on error paths (PG_TRY/PG_FINALLY).  These functions themselves never leak
 * json-c memory when they raise an error.
 *
 * The header only forward-declares json-c's type: a file that includes
 * utils/builtins.h (which declares a function named json_object) cannot also
 * include <json-c/json.h>, so code using json-c's API includes
 * core/jsonc_prelude.h instead of builtins.h.
 *
 * src/core/jsonc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_JSONC_H
#define DWC_JSONC_H

#include "utils/jsonb.h"

struct json_object;

/* deepest nesting accepted when parsing JSON text */
#define DWC_JSON_MAX_DEPTH 64

/* in jsonc.c */
extern struct json_object *DwcJsonbToJsonc(Jsonb *jb);
extern Jsonb *DwcJsoncToJsonb(struct json_object *obj);
extern struct json_object *DwcJsoncParse(const char *text, size_t len, const char *what);
extern struct json_object *DwcJsoncTryParse(const char *text, size_t len, bool *ok);
extern char *DwcJsoncToCString(struct json_object *obj);
extern bool DwcJsonIsValid(const char *text, size_t len);

#endif							/* DWC_JSONC_H */
