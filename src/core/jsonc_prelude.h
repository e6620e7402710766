/*-------------------------------------------------------------------------
 *
 * jsonc_prelude.h
 *		Include json-c in a file that also needs PostgreSQL's fmgr prototypes.
 *
 * utils/fmgrprotos.h (pulled in by utils/builtins.h) declares a function
 * called json_object, which clashes with json-c's struct json_object.  Rename
 * PostgreSQL's declaration while its headers are read, then include json-c.
 * Include this after every PostgreSQL header and instead of builtins.h.
 *
 * src/core/jsonc_prelude.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_JSONC_PRELUDE_H
#define DWC_JSONC_PRELUDE_H

#define json_object pg_json_object_fn
#include "utils/builtins.h"
#undef json_object

#include <json-c/json.h>

#endif							/* DWC_JSONC_PRELUDE_H */
