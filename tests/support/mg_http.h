/*  A minimal HTTP/1.1 client for end-to-end tests: one request per
    connection (Connection: close), raw bytes so that malformed requests can
    be sent exactly, and header lookup in the reply.  */
#ifndef MG_HTTP_H_INCLUDED
#define MG_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int status;                     //  0: no answer
    char head [16384];              //  status line and headers
    char *body;                     //  NUL-terminated
    size_t body_len;
} mg_http_reply_t;

//  Send method path with extra header lines (each ending "\r\n", may be "")
//  and body (NULL: none; sent as application/json) to 127.0.0.1:port.
//  Returns 0, or -1 when no complete answer came within timeout_ms.
int mg_http_request (int port, const char *method, const char *path, const char *headers,
                     const char *body, mg_http_reply_t *reply, int timeout_ms);

//  Send the raw bytes of a request (which should say Connection: close) and
//  read the answer until the server closes. Returns 0, or -1 when the
//  connection failed or no complete answer came within timeout_ms.
int mg_http_exchange (int port, const char *request, size_t len, mg_http_reply_t *reply, int timeout_ms);

//  Value of header name (case-insensitive) into value; false when absent.
bool mg_http_header (const mg_http_reply_t *reply, const char *name, char *value, size_t size);

void mg_http_reply_free (mg_http_reply_t *reply);

//  Value of the series name (its labels included, as its line starts) on
//  the /metrics page of the gateway at port; -1 when absent or unreadable.
double mg_http_metric (int port, const char *name);

#endif
