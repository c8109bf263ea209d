/*  See mg_http.h.  */
#include "mg_http.h"
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

void
mg_http_reply_free (mg_http_reply_t *reply)
{
    free (reply->body);
    reply->body = NULL;
}

int
mg_http_exchange (int port, const char *request, size_t len, mg_http_reply_t *reply, int timeout_ms)
{
    memset (reply, 0, sizeof *reply);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr)) {
        if (fd >= 0)
            close (fd);
        return -1;
    }
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send (fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;          //  the server may answer and close before reading it all
        sent += (size_t) n;
    }
    size_t room = 65536, used = 0;
    char *data = malloc (room);
    int64_t until = mg_test_now_ms () + timeout_ms;
    bool closed = false;
    while (data && !closed && mg_test_now_ms () < until) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll (&pfd, 1, (int) (until - mg_test_now_ms ())) <= 0)
            continue;
        if (used == room) {
            char *bigger = realloc (data, room * 2);
            if (!bigger)
                break;
            data = bigger;
            room *= 2;
        }
        ssize_t n = recv (fd, data + used, room - used, 0);
        if (n <= 0)
            closed = true;
        else
            used += (size_t) n;
    }
    close (fd);
    char *end = data && used ? memmem (data, used, "\r\n\r\n", 4) : NULL;
    if (!closed || !end || sscanf (data, "HTTP/1.1 %d", &reply->status) != 1) {
        free (data);
        reply->status = 0;
        return -1;
    }
    size_t head_len = (size_t) (end - data);
    if (head_len >= sizeof reply->head)
        head_len = sizeof reply->head - 1;
    memcpy (reply->head, data, head_len);
    reply->head [head_len] = '\0';
    reply->body_len = used - (size_t) (end + 4 - data);
    reply->body = malloc (reply->body_len + 1);
    if (reply->body) {
        memcpy (reply->body, end + 4, reply->body_len);
        reply->body [reply->body_len] = '\0';
    }
    free (data);
    return reply->body ? 0 : -1;
}

int
mg_http_request (int port, const char *method, const char *path, const char *headers,
                 const char *body, mg_http_reply_t *reply, int timeout_ms)
{
    memset (reply, 0, sizeof *reply);
    size_t body_len = body ? strlen (body) : 0;
    size_t cap = strlen (method) + strlen (path) + strlen (headers) + body_len + 256;
    char *request = malloc (cap);
    if (!request)
        return -1;
    int len = body
        ? snprintf (request, cap, "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", method, path, headers, body_len, body)
        : snprintf (request, cap, "%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n",
                    method, path, headers);
    int rc = len > 0 ? mg_http_exchange (port, request, (size_t) len, reply, timeout_ms) : -1;
    free (request);
    return rc;
}

bool
mg_http_header (const mg_http_reply_t *reply, const char *name, char *value, size_t size)
{
    size_t name_len = strlen (name);
    for (const char *line = strstr (reply->head, "\r\n"); line; line = strstr (line, "\r\n")) {
        line += 2;
        if (strncasecmp (line, name, name_len) == 0 && line [name_len] == ':') {
            const char *v = line + name_len + 1;
            while (*v == ' ')
                v++;
            size_t v_len = strcspn (v, "\r");
            if (v_len >= size)
                v_len = size - 1;
            memcpy (value, v, v_len);
            value [v_len] = '\0';
            return true;
        }
    }
    return false;
}

double
mg_http_metric (int port, const char *name)
{
    mg_http_reply_t reply;
    double value = -1;
    if (mg_http_request (port, "GET", "/metrics", "", NULL, &reply, 5000) == 0 && reply.status == 200) {
        size_t len = strlen (name);
        for (const char *line = reply.body; line && *line; ) {
            if (strncmp (line, name, len) == 0 && line [len] == ' ') {
                value = atof (line + len + 1);
                break;
            }
            line = strchr (line, '\n');
            if (line)
                line++;
        }
    }
    mg_http_reply_free (&reply);
    return value;
}
