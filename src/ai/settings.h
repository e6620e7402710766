/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The configuration settings (GUCs) of AI providers and calls.
 *
 * src/ai/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_AI_SETTINGS_H
#define DWC_AI_SETTINGS_H

extern char	   *dwc_default_provider;
extern char	   *dwc_openai_api_key;
extern char	   *dwc_anthropic_api_key;
extern char	   *dwc_google_api_key;
extern int	dwc_ai_call_retention_min;

#endif							/* DWC_AI_SETTINGS_H */
