/*-------------------------------------------------------------------------
 *
 * identity.c
 *		Who the current request is: the session role, the PostgREST claims,
 *		and requests authenticated by an API key.
 *
 * PostgREST switches to the role of the token's role claim and exposes the
 * claims as request.jwt.claims.  dwc trusts those claims the way PostgREST
 * does: only for sessions acting as one of dwc's web roles, which only the
 * authenticator (and superusers) can switch to.
 *
 * An API key arrives without a token, so PostgREST runs the request as
 * dwc_anon; dwc.pre_request() verifies the key and sets claims that carry
 * "dwc_auth": "api_key" and the key user's role.  A function cannot switch
 * roles (not inside SECURITY DEFINER, not to a role the session is not a
 * member of), so instead every place that needs the caller's role asks
 * DwcEffectiveUserId(): for dwc_anon with API-key claims it is the key
 * user's role.  Anonymous requests cannot set claims themselves: they can
 * only call the api functions granted to them, and tokens are signed with
 * the secret only dwc and PostgREST hold.
 *
 * src/security/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "core/jsonc.h"
#include "security/identity.h"

/* The request's claims, or NULL when there are none (or they are not a JSON object). */
Jsonb *
DwcRequestClaims(void)
{
	const char *c = GetConfigOption("request.jwt.claims", true, false);
	Jsonb	   *j;

	if (c == NULL || c[0] == '\0' || !DwcJsonIsValid(c, strlen(c)))
		return NULL;
	j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(c)));
	return JB_ROOT_IS_OBJECT(j) ? j : NULL;
}

/* A string claim, or NULL. */
char *
DwcClaim(Jsonb *claims, const char *name)
{
	JsonbValue	k;
	JsonbValue *v;

	if (claims == NULL)
		return NULL;
	k.type = jbvString;
	k.val.string.val = unconstify(char *, name);
	k.val.string.len = strlen(name);
	v = findJsonbValueFromContainer(&claims->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Is this an anonymous request that dwc.pre_request() authenticated with an
 * API key?  The claims are parsed only for the anonymous role: every other
 * caller (and every audited write) is answered by a role comparison.
 */
static bool
api_key_request(Oid uid, Oid *as_role)
{
	Oid			anon = get_role_oid("dwc_anon", true);
	Jsonb	   *claims;
	char	   *auth;
	char	   *role;

	if (!OidIsValid(anon) || uid != anon)
		return false;
	claims = DwcRequestClaims();
	auth = DwcClaim(claims, "dwc_auth");
	role = DwcClaim(claims, "role");
	if (auth == NULL || strcmp(auth, "api_key") != 0 || role == NULL ||
		(strcmp(role, "dwc_user") != 0 && strcmp(role, "dwc_admin") != 0))
		return false;
	*as_role = get_role_oid(role, true);
	return OidIsValid(*as_role);
}

Oid
DwcEffectiveUserId(void)
{
	Oid			uid = GetUserId();
	Oid			as_role;

	if (api_key_request(uid, &as_role))
		return as_role;
	return uid;
}

bool
DwcIsApiKeyRequest(void)
{
	Oid			as_role;

	return api_key_request(GetUserId(), &as_role);
}

/*
 * The dwc user id of the request (the sub claim), when the session acts as
 * a web role that may carry one; NULL otherwise.
 */
char *
DwcCurrentUserId(void)
{
	Oid			uid = DwcEffectiveUserId();
	Oid			user_role = get_role_oid("dwc_user", true);

	if (!OidIsValid(user_role) || !has_privs_of_role(uid, user_role))
		return NULL;
	return DwcClaim(DwcRequestClaims(), "sub");
}

PG_FUNCTION_INFO_V1(dwc_current_user_id);
PG_FUNCTION_INFO_V1(dwc_current_user_role);

Datum
dwc_current_user_id(PG_FUNCTION_ARGS)
{
	char	   *id = DwcCurrentUserId();

	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

Datum
dwc_current_user_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(GetUserNameFromId(DwcEffectiveUserId(), false)));
}
