/*  ops.c: /health, /ready and /metrics, answered by the gateway itself.  */
#ifndef GW_OPS_H_INCLUDED
#define GW_OPS_H_INCLUDED

#include "gw_request.h"

void gw_ops_health (gw_request_t *request);
void gw_ops_ready (gw_request_t *request);
void gw_ops_metrics (gw_request_t *request);

#endif
