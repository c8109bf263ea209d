/*  Helpers for provider modules to read a request and set its answer.  */
#include "sim.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sim_call_header (sim_call_t *call, const char *name, const char *fmt, ...)
{
    if (call->header_count >= SIM_HEADERS_MAX)
        return;
    int i = call->header_count++;
    snprintf (call->header_names [i], sizeof call->header_names [i], "%s", name);
    va_list args;
    va_start (args, fmt);
    vsnprintf (call->header_values [i], sizeof call->header_values [i], fmt, args);
    va_end (args);
}

const char *
sim_call_param (const sim_call_t *call, const char *name)
{
    return call->query ? evhttp_find_header (call->query, name) : NULL;
}

const char *
sim_call_request_header (const sim_call_t *call, const char *name)
{
    return call->headers ? evhttp_find_header (call->headers, name) : NULL;
}

void
sim_call_reply (sim_call_t *call, int status, json_t *body)
{
    json_decref (call->reply);
    free (call->text);
    call->text = NULL;
    call->status = status;
    call->reply = body;
}

void
sim_call_reply_text (sim_call_t *call, int status, const char *content_type, const char *text)
{
    sim_call_reply (call, status, NULL);
    call->text = strdup (text);
    call->content_type = content_type;
}

long
sim_call_int (const sim_call_t *call, const char *name, long def, long max)
{
    const char *text = sim_call_param (call, name);
    if (!text)
        return def;
    char *end;
    long value = strtol (text, &end, 10);
    return *text && !*end && value >= 1 && value <= max ? value : -1;
}
