/*  refuse.c: the refuser, part of the accept stage. While a loop thread is
    at its in-flight bound, this thread accepts on that thread's listening
    socket instead and answers each new connection 503 OVERLOADED itself.  */
#ifndef GW_REFUSE_H_INCLUDED
#define GW_REFUSE_H_INCLUDED

#include "gw_metrics.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct gw_refuse_t gw_refuse_t;

//  A refuser for n listening sockets: listeners [i] belongs to loop thread i
//  (it is duplicated; the caller keeps its own), whose counters are
//  metrics [i] (kept by the caller, to outlive the refuser). Not running
//  yet. NULL (with a log line) on failure.
gw_refuse_t *gw_refuse_new (const int *listeners, gw_metrics_t *const *metrics, size_t n);

//  Start the refuser's thread. 0, or -1 (logged).
int gw_refuse_start (gw_refuse_t *self);

//  Stop the thread and close the duplicated listening sockets and every
//  connection being refused. gw_refuse_set stays safe to call until destroy.
void gw_refuse_stop (gw_refuse_t *self);

//  Stop if running, free. Nulls *self_p.
void gw_refuse_destroy (gw_refuse_t **self_p);

//  Loop thread i is at its bound (over) or below it again. Called by thread i
//  only, on each change; the refuser watches socket i while it is over (the
//  caller adds it to the refuser's epoll set or takes it out: one epoll_ctl,
//  no wake-up).
void gw_refuse_set (gw_refuse_t *self, size_t i, bool over);

#endif
