/*  A libcurl multi engine: many transfers in flight on one thread, driven
    by the caller's loop (http_engine_poll). Connections are kept and
    reused per host by the multi handle.  */
#ifndef FETCHER_HTTP_H_INCLUDED
#define FETCHER_HTTP_H_INCLUDED

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_URL_MAX     2048
#define HTTP_HEADERS_MAX 2          //  an API key header and If-None-Match

typedef struct {
    //  Request, filled by the caller.
    char url [HTTP_URL_MAX];
    char headers [HTTP_HEADERS_MAX][512];
    int header_count;
    void *owner;                    //  the caller's, untouched
    //  Response, filled by the engine.
    long status;                    //  0: the transfer failed (see error)
    char *body;                     //  owned, NUL-terminated; freed by http_transfer_reset
    size_t len;
    char etag [256];
    char retry_after [64];
    int64_t rl_remaining;           //  provider's remaining calls, -1 when not said
    int64_t rl_reset_ms;            //  until its window resets, -1 when not said
    char error [CURL_ERROR_SIZE];
    //  Engine's.
    CURL *easy;
    struct curl_slist *list;
    size_t cap;
} http_transfer_t;

typedef struct http_engine_t http_engine_t;

//  Engine for at most max_transfers at once, each bounded by timeout_ms.
http_engine_t *http_engine_new (int max_transfers, int timeout_ms);
void http_engine_destroy (http_engine_t **self_p);

//  Start transfer (GET). The engine uses it until it is handed back by
//  http_engine_poll. Returns 0, or -1 when full or curl refuses.
int http_engine_start (http_engine_t *self, http_transfer_t *transfer);

//  Transfers in flight.
int http_engine_running (http_engine_t *self);

//  Takes transfer out of the engine if it is still running (its done
//  callback will never be called) and frees its body: what a caller does
//  before freeing a transfer the engine may still hold.
void http_engine_cancel (http_engine_t *self, http_transfer_t *transfer);

typedef void (http_done_fn) (void *arg, http_transfer_t *transfer);

//  Move transfers on, waiting up to wait_ms for activity; every finished
//  transfer is handed to done. Returns how many finished, or -1.
int http_engine_poll (http_engine_t *self, int wait_ms, http_done_fn *done, void *arg);

//  Forget a transfer's response (body freed) so it can be started again.
void http_transfer_reset (http_transfer_t *transfer);

#endif
