/*  Configuration lookup: environment first, then the defaults file.  */
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <czmq.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_ENTRIES  256     //  lines of KEY=value read from the file
#define CONFIG_LINE_MAX     1024    //  longest line; longer lines are skipped

typedef struct {
    char *key;
    char *value;
} s_entry_t;

static s_entry_t s_entries [CONFIG_MAX_ENTRIES];
static size_t s_count;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

//  Trim spaces at both ends in place.
static char *
s_trim (char *s)
{
    while (isspace ((unsigned char) *s))
        s++;
    size_t len = strlen (s);
    while (len && isspace ((unsigned char) s [len - 1]))
        s [--len] = 0;
    return s;
}

//  Read the defaults file once.
static void
s_load (void)
{
    const char *path = getenv ("MG_CONFIG_FILE");
    if (!path || !*path)
        path = "config/default.env";
    FILE *file = fopen (path, "r");
    if (!file)
        return;               //  no file: environment and fallbacks only
    char line [CONFIG_LINE_MAX];
    while (fgets (line, sizeof line, file) && s_count < CONFIG_MAX_ENTRIES) {
        char *s = s_trim (line);
        if (*s == '#' || *s == 0)
            continue;
        char *eq = strchr (s, '=');
        if (!eq)
            continue;
        *eq = 0;
        char *key = s_trim (s);
        char *value = s_trim (eq + 1);
        size_t vlen = strlen (value);
        if (vlen >= 2 && ((value [0] == '"' && value [vlen - 1] == '"')
                      ||  (value [0] == '\'' && value [vlen - 1] == '\''))) {
            value [vlen - 1] = 0;
            value++;
        }
        char *k = strdup (key);
        char *v = strdup (value);
        if (!k || !v) {
            free (k);
            free (v);
            break;
        }
        s_entries [s_count].key = k;
        s_entries [s_count].value = v;
        s_count++;
    }
    fclose (file);
}

const char *
mg_config_str (const char *name, const char *fallback)
{
    const char *env = getenv (name);
    if (env)
        return env;
    pthread_once (&s_once, s_load);
    for (size_t i = 0; i < s_count; i++)
        if (strcmp (s_entries [i].key, name) == 0)
            return s_entries [i].value;
    return fallback;
}

int64_t
mg_config_int (const char *name, int64_t fallback, int64_t min, int64_t max)
{
    const char *text = mg_config_str (name, NULL);
    if (!text || !*text)
        return fallback;
    char *end;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (errno || *end || v < min || v > max) {
        mg_warn ("bad configuration value, using default",
                 "name=%s value=\"%s\" default=%lld min=%lld max=%lld",
                 name, text, (long long) fallback, (long long) min, (long long) max);
        return fallback;
    }
    return v;
}

int
mg_config_redis_url (const char *url, char *host, size_t host_size, int *port, int *db)
{
    static const char scheme [] = "redis://";
    if (!url || strncmp (url, scheme, sizeof scheme - 1) != 0)
        return -1;
    const char *start = url + sizeof scheme - 1;
    size_t host_len = strcspn (start, ":/");
    if (host_len == 0 || host_len >= host_size)
        return -1;
    memcpy (host, start, host_len);
    host [host_len] = '\0';
    *port = 6379;
    *db = 0;
    const char *p = start + host_len;
    if (*p == ':') {
        char *end;
        long value = strtol (p + 1, &end, 10);
        if (end == p + 1 || value <= 0 || value > 65535)
            return -1;
        *port = (int) value;
        p = end;
    }
    if (*p == '/' && p [1]) {
        char *end;
        long value = strtol (p + 1, &end, 10);
        if (end == p + 1 || *end || value < 0 || value > 15)
            return -1;
        *db = (int) value;
    }
    else
    if (*p && strcmp (p, "/") != 0)
        return -1;
    return 0;
}

size_t
mg_config_endpoint (const char *list, size_t index, char *out, size_t size)
{
    assert (list && out && size > 0);
    out [0] = 0;
    size_t count = 0;
    const char *item = list;
    while (*item && count < MG_ENDPOINTS_MAX) {
        size_t len = strcspn (item, ",");
        if (len > 0) {
            if (count == index && len < size) {
                memcpy (out, item, len);
                out [len] = 0;
            }
            count++;
        }
        item += len;
        if (*item == ',')
            item++;
    }
    return count;
}

int
mg_config_connect (void *socket, const char *list)
{
    assert (socket && list);
    char endpoint [MG_ENDPOINT_MAX];
    size_t count = mg_config_endpoint (list, 0, endpoint, sizeof endpoint);
    if (count == 0) {
        mg_error ("no endpoint to connect to", "list=\"%.200s\"", list);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        mg_config_endpoint (list, i, endpoint, sizeof endpoint);
        if (!endpoint [0] || zmq_connect (zsock_resolve (socket), endpoint)) {
            mg_error ("cannot connect", "endpoint=\"%.200s\" error=\"%s\"", endpoint, zmq_strerror (errno));
            return -1;
        }
    }
    return 0;
}
