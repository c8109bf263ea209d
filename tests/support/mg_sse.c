/*  See mg_sse.h.  */
#include "mg_sse.h"
#include "mg_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK  65536

struct mg_sse_t {
    int fd;
    bool chunked;
    bool closed;                    //  the server closed the connection
    bool ended;                     //  the last chunk came
    char *raw;                      //  bytes received, not yet unframed
    size_t raw_len, raw_room;
    char *text;                     //  SSE text, not yet parsed
    size_t text_len, text_room;
    size_t comments;
    int retry;
};

//  Append len bytes to a growing buffer. 0 or -1.
static int
s_append (char **buf, size_t *len, size_t *room, const char *data, size_t size)
{
    if (*len + size + 1 > *room) {
        size_t bigger = (*room ? *room : 4096);
        while (bigger < *len + size + 1)
            bigger *= 2;
        char *grown = realloc (*buf, bigger);
        if (!grown)
            return -1;
        *buf = grown;
        *room = bigger;
    }
    memcpy (*buf + *len, data, size);
    *len += size;
    (*buf) [*len] = '\0';
    return 0;
}

//  Read what is there within timeout_ms into raw. 0 (something came or
//  the connection closed), -1 on timeout.
static int
s_read (mg_sse_t *self, int timeout_ms)
{
    struct pollfd pfd = { .fd = self->fd, .events = POLLIN };
    if (self->closed || poll (&pfd, 1, timeout_ms) <= 0)
        return -1;
    char buf [READ_CHUNK];
    ssize_t n = recv (self->fd, buf, sizeof buf, 0);
    if (n <= 0) {
        self->closed = true;
        return 0;
    }
    return s_append (&self->raw, &self->raw_len, &self->raw_room, buf, (size_t) n);
}

//  Move whole chunks (or everything, unchunked) from raw to text.
static void
s_unframe (mg_sse_t *self)
{
    if (!self->chunked) {
        s_append (&self->text, &self->text_len, &self->text_room, self->raw, self->raw_len);
        self->raw_len = 0;
        return;
    }
    size_t at = 0;
    while (!self->ended) {
        char *line_end = memmem (self->raw + at, self->raw_len - at, "\r\n", 2);
        if (!line_end)
            break;
        size_t size = strtoul (self->raw + at, NULL, 16);
        size_t start = (size_t) (line_end + 2 - self->raw);
        if (start + size + 2 > self->raw_len)
            break;
        if (size == 0)
            self->ended = true;
        s_append (&self->text, &self->text_len, &self->text_room, self->raw + start, size);
        at = start + size + 2;
    }
    memmove (self->raw, self->raw + at, self->raw_len - at);
    self->raw_len -= at;
}

mg_sse_t *
mg_sse_open (int port, const char *path, const char *headers, mg_http_reply_t *reply, int timeout_ms)
{
    memset (reply, 0, sizeof *reply);
    mg_sse_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->retry = -1;
    self->fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    char request [8192];
    int len = snprintf (request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Accept: text/event-stream\r\nConnection: close\r\n%s\r\n", path, headers);
    if (self->fd < 0 || connect (self->fd, (struct sockaddr *) &addr, sizeof addr)
    ||  len <= 0 || (size_t) len >= sizeof request
    ||  send (self->fd, request, (size_t) len, MSG_NOSIGNAL) != len) {
        mg_sse_close (&self);
        return NULL;
    }
    int64_t until = mg_test_now_ms () + timeout_ms;
    char *end = NULL;
    while (!(end = self->raw ? memmem (self->raw, self->raw_len, "\r\n\r\n", 4) : NULL)) {
        int64_t left = until - mg_test_now_ms ();
        if (left <= 0 || s_read (self, (int) left) || self->closed)
            break;
    }
    if (!end || sscanf (self->raw, "HTTP/1.1 %d", &reply->status) != 1) {
        reply->status = 0;
        mg_sse_close (&self);
        return NULL;
    }
    size_t head_len = (size_t) (end - self->raw);
    snprintf (reply->head, sizeof reply->head, "%.*s", (int) head_len, self->raw);
    memmove (self->raw, end + 4, self->raw_len - head_len - 4);
    self->raw_len -= head_len + 4;
    char value [64];
    self->chunked = mg_http_header (reply, "Transfer-Encoding", value, sizeof value)
                 && strcasecmp (value, "chunked") == 0;
    if (reply->status == 200)
        return self;
    //  An error answer: read it whole (the request said Connection: close).
    while (!self->closed && mg_test_now_ms () < until)
        s_read (self, (int) (until - mg_test_now_ms ()));
    s_unframe (self);
    reply->body = strndup (self->text ? self->text : "", self->text_len);
    reply->body_len = self->text_len;
    mg_sse_close (&self);
    return NULL;
}

int
mg_sse_parse (const char *text, size_t len, mg_sse_event_t *event, size_t *used, size_t *comments, int *retry)
{
    memset (event, 0, sizeof *event);
    snprintf (event->type, sizeof event->type, "message");
    char *data = NULL;
    size_t data_len = 0, data_room = 0;
    bool any = false;
    size_t at = 0;
    for (;;) {
        const char *nl = memchr (text + at, '\n', len - at);
        if (!nl) {
            free (data);
            return 1;
        }
        size_t line_len = (size_t) (nl - text - at);
        const char *line = text + at;
        at += line_len + 1;
        if (line_len && line [line_len - 1] == '\r')
            line_len--;
        if (line_len == 0) {
            if (!any)
                continue;           //  a blank line between comments
            *used = at;
            event->data = data ? data : strdup ("");
            return 0;
        }
        if (line [0] == ':') {
            (*comments)++;
            continue;
        }
        const char *colon = memchr (line, ':', line_len);
        size_t name_len = colon ? (size_t) (colon - line) : line_len;
        const char *value = colon ? colon + 1 : line + line_len;
        if (colon && *value == ' ')
            value++;
        size_t value_len = (size_t) (line + line_len - value);
        if (name_len == 4 && memcmp (line, "data", 4) == 0) {
            if (data_len)
                s_append (&data, &data_len, &data_room, "\n", 1);
            s_append (&data, &data_len, &data_room, value, value_len);
            if (!data)
                s_append (&data, &data_len, &data_room, "", 0);
            any = true;
        }
        else
        if (name_len == 5 && memcmp (line, "event", 5) == 0) {
            snprintf (event->type, sizeof event->type, "%.*s", (int) value_len, value);
            any = true;
        }
        else
        if (name_len == 2 && memcmp (line, "id", 2) == 0) {
            snprintf (event->id, sizeof event->id, "%.*s", (int) value_len, value);
            any = true;
        }
        else
        if (name_len == 5 && memcmp (line, "retry", 5) == 0)
            *retry = atoi (value);
    }
}

int
mg_sse_next (mg_sse_t *self, mg_sse_event_t *event, int timeout_ms)
{
    int64_t until = mg_test_now_ms () + timeout_ms;
    for (;;) {
        s_unframe (self);
        size_t used = 0;
        if (self->text_len
        &&  mg_sse_parse (self->text, self->text_len, event, &used, &self->comments, &self->retry) == 0) {
            memmove (self->text, self->text + used, self->text_len - used);
            self->text_len -= used;
            return 0;
        }
        if (self->closed || self->ended)
            return 1;
        int64_t left = until - mg_test_now_ms ();
        if (left <= 0 || s_read (self, (int) left))
            return -1;
    }
}

size_t
mg_sse_comments (mg_sse_t *self)
{
    return self->comments;
}

int
mg_sse_retry (mg_sse_t *self)
{
    return self->retry;
}

void
mg_sse_event_free (mg_sse_event_t *event)
{
    free (event->data);
    event->data = NULL;
}

void
mg_sse_close (mg_sse_t **self_p)
{
    if (*self_p) {
        mg_sse_t *self = *self_p;
        if (self->fd >= 0)
            close (self->fd);
        free (self->raw);
        free (self->text);
        free (self);
        *self_p = NULL;
    }
}
