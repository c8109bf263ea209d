/*  POST /api/v1/me/import: the body is the file (text/csv,
    application/json, application/x-ndjson), or a multipart/form-data form
    whose `file` field is. The file goes to sync.import.upload in pieces
    that each fit a bus message (the first makes the job, the last has the
    sync actor read the file and run it); the last answer is the job: done
    (a file of up to 1,000 rows, run in the call) is 200 with its report,
    else 202 with Location: /api/v1/me/imports/{id} to poll. The file is
    checked here only for what the bus needs (UTF-8 text, no NUL); the
    sync actor reads it and names the line at fault.  */
#include "import.h"
#include "gw_bus.h"
#include "gw_json.h"
#include "gw_metrics.h"
#include "gw_respond.h"
#include "gw_routes.h"
#include "mg_log.h"

#include <assert.h>
#include <ctype.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#define IMPORT_PIECE_BYTES  (512 * 1024)    //  bytes of file per bus message (its limit is 1 MiB)
#define IMPORT_TTL_MS       30000           //  a 1,000-row file is resolved and applied in its last call
#define RETRY_AFTER_S       1

//  One upload in flight: the file (a copy: the body goes with the request
//  only while the request lives, and so does this) and how far it went.
typedef struct {
    gw_request_t *request;
    char *file;
    size_t len, sent;
    char content_type [64];
    char job_id [37];
} s_upload_t;

bool
gw_import_is (const char *path, size_t path_len, int method)
{
    return method == EVHTTP_REQ_POST && path_len == strlen (GW_IMPORT_PATH)
        && memcmp (path, GW_IMPORT_PATH, path_len) == 0;
}

//  The media type of value (lower case, no parameters) into out.
static void
s_media_type (const char *value, char *out, size_t size)
{
    size_t n = 0;
    while (value && value [n] && value [n] != ';' && value [n] != ' ' && n + 1 < size) {
        out [n] = (char) tolower ((unsigned char) value [n]);
        n++;
    }
    out [n] = '\0';
}

//  The import media type of a form part: its own when it names one, else
//  told by its filename's extension, else by its first character ('[' or
//  '{': JSON, one object a line: NDJSON), else CSV.
static const char *
s_part_type (const gw_multipart_part_t *part)
{
    static const char *const types [] = { "text/csv", "application/json", "application/x-ndjson" };
    for (size_t i = 0; i < 3; i++)
        if (strcmp (part->content_type, types [i]) == 0)
            return types [i];
    const char *dot = strrchr (part->filename, '.');
    if (dot && strcasecmp (dot, ".csv") == 0)
        return types [0];
    if (dot && strcasecmp (dot, ".json") == 0)
        return types [1];
    if (dot && (strcasecmp (dot, ".ndjson") == 0 || strcasecmp (dot, ".jsonl") == 0))
        return types [2];
    size_t at = 0;
    while (at < part->len && strchr (" \t\r\n", part->data [at]))
        at++;
    if (at < part->len && part->data [at] == '[')
        return types [1];
    if (at < part->len && part->data [at] == '{') {
        const char *line = memchr (part->data + at, '\n', part->len - at);
        while (line && line + 1 < part->data + part->len && strchr (" \t\r", line [1]))
            line++;
        return line && line + 1 < part->data + part->len && line [1] == '{' ? types [2] : types [1];
    }
    return types [0];
}

//  0 when text (len bytes) is UTF-8 without NUL; else the line of the first
//  bad byte (from 1).
static size_t
s_bad_line (const char *text, size_t len)
{
    size_t line = 1;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *) text;
    for (size_t at = 0; at < len; ) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate (p + at, (utf8proc_ssize_t) (len - at), &cp);
        if (n <= 0 || cp == 0)
            return line;
        if (cp == '\n')
            line++;
        at += (size_t) n;
    }
    return 0;
}

static void s_send (s_upload_t *self);

static void
s_upload_destroy (s_upload_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->file);
        free (*self_p);
        *self_p = NULL;
    }
}

//  The last answer: the job, 200 when done, else 202 with its Location.
static void
s_answer (s_upload_t *self, const uint8_t *body, size_t len)
{
    gw_request_t *request = self->request;
    alignas (max_align_t) unsigned char storage [GW_MSG_STORAGE];
    const mg_import_job_t *job = (const void *) storage;
    char reason [MG_MSG_ERR_LEN];
    if (mg_msg_decode (&mg_import_job_desc, body, len, storage, reason, sizeof reason)) {
        mg_error ("undecodable bus reply", "method=sync.import.upload reason=\"%s\"", reason);
        gw_reply_error (request, 502, "BAD_REPLY", 0, "the sync service sent an invalid reply");
        return;
    }
    bool done = strcmp (job->status, "done") == 0;
    if (!done) {
        char location [96];
        snprintf (location, sizeof location, "/api/v1/me/imports/%s", job->id);
        evhttp_add_header (evhttp_request_get_output_headers (request->http), "Location", location);
    }
    struct evbuffer *out = evhttp_request_get_output_buffer (request->http);
    int rc = gw_msg_append (out, &mg_import_job_desc, storage, false);
    mg_msg_clear (&mg_import_job_desc, storage);
    if (rc)
        gw_reply_error (request, 500, "INTERNAL", 0, "could not encode the reply");
    else
        gw_reply_buffer (request, done ? 200 : 202, GW_JSON_TYPE);
}

//  Bus callback of one piece.
static void
s_on_piece (void *arg, gw_bus_outcome_t outcome, const uint8_t *body, size_t len, int64_t rtt_us)
{
    s_upload_t *self = arg;
    gw_request_t *request = self->request;
    gw_metrics_bus (request->metrics, gw_routes_index (request->route), outcome, rtt_us);
    if (outcome == GW_BUS_REPLY && self->sent < self->len) {
        //  A piece went in: the next one goes to the job the first made.
        mg_import_job_t job;
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_decode (&mg_import_job_desc, body, len, &job, reason, sizeof reason)) {
            gw_reply_error (request, 502, "BAD_REPLY", 0, "the sync service sent an invalid reply");
            s_upload_destroy (&self);
            return;
        }
        snprintf (self->job_id, sizeof self->job_id, "%s", job.id);
        mg_msg_clear (&mg_import_job_desc, &job);
        s_send (self);
        return;
    }
    if (outcome == GW_BUS_REPLY) {
        s_answer (self, body, len);
        s_upload_destroy (&self);
        return;
    }
    if (outcome == GW_BUS_ERROR) {
        mg_error_t error;
        char reason [MG_MSG_ERR_LEN];
        if (mg_msg_decode (&mg_error_desc, body, len, &error, reason, sizeof reason))
            gw_reply_error (request, 502, "BAD_REPLY", 0, "the sync service sent an invalid error");
        else {
            gw_reply_bus_error (request, &error);
            mg_msg_clear (&mg_error_desc, &error);
        }
    }
    else
    if (outcome == GW_BUS_TIMEOUT)
        gw_reply_error (request, 504, "DEADLINE_EXCEEDED", 0, "no answer from sync.import.upload within %u ms",
                        IMPORT_TTL_MS);
    else
        gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S, "lost the connection to the message broker");
    s_upload_destroy (&self);
}

//  Send the next piece of the file (cut on a character boundary).
static void
s_send (s_upload_t *self)
{
    gw_request_t *request = self->request;
    size_t n = self->len - self->sent;
    if (n > IMPORT_PIECE_BYTES) {
        n = IMPORT_PIECE_BYTES;
        while (n > 0 && ((unsigned char) self->file [self->sent + n] & 0xC0) == 0x80)
            n--;
    }
    char saved = self->file [self->sent + n];
    self->file [self->sent + n] = '\0';
    mg_import_upload_t piece = {
        .user_id = request->caller.user_id, .job_id = *self->job_id ? self->job_id : NULL,
        .content_type = self->content_type, .data = self->file + self->sent,
        .last = self->sent + n == self->len, .has_last = true
    };
    uint8_t *body = NULL;
    size_t len = 0;
    char reason [MG_MSG_ERR_LEN];
    int rc = mg_msg_encode (&mg_import_upload_desc, &piece, &body, &len, reason, sizeof reason);
    self->file [self->sent + n] = saved;
    self->sent += n;
    if (rc == 0)
        rc = gw_bus_call (request->bus, "sync.import.upload", body, len, IMPORT_TTL_MS, s_on_piece, self);
    else
        mg_error ("import piece does not encode", "reason=\"%s\"", reason);
    free (body);
    if (rc) {
        gw_reply_error (request, 503, "SERVICE_UNAVAILABLE", RETRY_AFTER_S, "the message broker is unreachable");
        s_upload_destroy (&self);
    }
}

void
gw_import_post (gw_request_t *request)
{
    assert (request);
    struct evbuffer *input = evhttp_request_get_input_buffer (request->http);
    size_t len = evbuffer_get_length (input);
    const char *header = evhttp_find_header (evhttp_request_get_input_headers (request->http), "Content-Type");
    char type [64];
    s_media_type (header, type, sizeof type);
    const char *body = len ? (const char *) evbuffer_pullup (input, -1) : "";
    if (len && !body) {
        gw_reply_error (request, 500, "INTERNAL", 0, "out of memory");
        return;
    }
    gw_multipart_part_t part = { .data = body, .len = len };
    const char *file_type = type;
    if (strcmp (type, "multipart/form-data") == 0) {
        char boundary [GW_MULTIPART_BOUNDARY_MAX + 1], why [128];
        if (gw_multipart_boundary (header, boundary)) {
            gw_reply_error (request, 400, "INVALID_PARAMETER", 0, "multipart/form-data needs a valid boundary parameter");
            return;
        }
        if (gw_multipart_find (body, len, boundary, "file", &part, why, sizeof why)) {
            gw_reply_error (request, 400, "INVALID_PARAMETER", 0, "%s", why);
            return;
        }
        file_type = s_part_type (&part);
    }
    else
    if (strcmp (type, "text/csv") && strcmp (type, "application/json") && strcmp (type, "application/x-ndjson")) {
        gw_reply_error (request, 415, "UNSUPPORTED_MEDIA_TYPE", 0,
                        "send the file as text/csv, application/json or application/x-ndjson, "
                        "or as the 'file' field of multipart/form-data");
        return;
    }
    if (part.len == 0) {
        gw_reply_error (request, 400, "INVALID_PARAMETER", 0, "the file is empty");
        return;
    }
    size_t bad = s_bad_line (part.data, part.len);
    if (bad) {
        gw_reply_error (request, 400, "INVALID_PARAMETER", 0, "line %zu: the file is not UTF-8 text", bad);
        return;
    }
    s_upload_t *self = calloc (1, sizeof *self);
    char *file = self ? malloc (part.len + 1) : NULL;
    if (!file) {
        free (self);
        gw_reply_error (request, 500, "INTERNAL", 0, "out of memory");
        return;
    }
    memcpy (file, part.data, part.len);
    file [part.len] = '\0';
    self->request = request;
    self->file = file;
    self->len = part.len;
    snprintf (self->content_type, sizeof self->content_type, "%s", file_type);
    s_send (self);
}
