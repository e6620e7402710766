/*-------------------------------------------------------------------------
 *
 * nodes.h
 *		What part this server plays in a Citus cluster.
 *
 * src/core/nodes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_NODES_H
#define DWC_NODES_H

extern bool DwcCitusLoaded(void);

#endif							/* DWC_NODES_H */
