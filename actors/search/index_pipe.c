/*  A snapshot load's vectors on a thread of their own. Between
    search_index_begin and search_index_commit the puts (one thread: FTS5,
    the result items, the doc table) hand each title's vector, or its texts
    to embed, to a worker that embeds them and adds them to the vector
    index (staging, k-means training, the lists' adds): the two sides share
    nothing but the queue, so on two cores they overlap instead of taking
    turns. The worker adds in the order the puts queued, so every title gets
    the slot a put on one thread would have given it; which title holds
    which slot (slot_rowid) is written by the worker and copied into the doc
    table (docs [rowid].slot) once the worker is idle (index_pipe_sync).

    While a pipe runs the worker owns self->hnsw, self->slot_rowid and
    self->slots_room; the put's thread touches them only after a sync.
    MG_SEARCH_BUILD_PIPE=0 keeps the vectors on the put's thread.  */
#include "index_impl.h"
#include "mg_config.h"
#include "mg_log.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

//  Titles queued at most: enough to ride out a k-means training or a
//  chunk's add on the worker without stalling the puts for long, and a
//  bounded amount of copied text (a few KiB a title).
#define PIPE_JOBS 1024

//  One title's vector to add: the stored one (vec), or its texts to embed.
typedef struct {
    int64_t rowid;
    float *vec;                //  a stored vector (dims floats), or NULL
    mg_doc_t doc;              //  the fields mg_lsa_doc_terms reads, in texts
    char *texts;
} s_job_t;

struct index_pipe_t {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t queued;     //  a job was queued, or stop was set
    pthread_cond_t taken;      //  a job was taken or done: room, or idle
    s_job_t jobs [PIPE_JOBS];  //  a ring: [head, head + count)
    size_t head, count;
    bool working;              //  the worker holds a job it took
    bool stop;
    bool failed;               //  an embedding or an add failed (logged)
    size_t applied;            //  slots copied into the doc table
};

static void
s_job_clear (s_job_t *job)
{
    free (job->vec);
    free (job->texts);
    memset (job, 0, sizeof *job);
}

//  Copy into job the fields of doc an embedding reads (one buffer).
static int
s_job_texts (s_job_t *job, const mg_doc_t *doc)
{
    const char *fields [] = { doc->title, doc->original_title, doc->alternates, doc->keywords,
                              doc->genres, doc->tagline, doc->overview };
    const char **into [] = { &job->doc.title, &job->doc.original_title, &job->doc.alternates,
                             &job->doc.keywords, &job->doc.genres, &job->doc.tagline, &job->doc.overview };
    size_t n = sizeof fields / sizeof fields [0], bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += fields [i] ? strlen (fields [i]) + 1 : 0;
    job->texts = malloc (bytes ? bytes : 1);
    if (!job->texts)
        return -1;
    char *at = job->texts;
    for (size_t i = 0; i < n; i++)
        if (fields [i]) {
            size_t len = strlen (fields [i]) + 1;
            memcpy (at, fields [i], len);
            *into [i] = at;
            at += len;
        }
    job->doc.id = "";
    return 0;
}

//  Embed (when asked) and add job's vector; its slot is the next one.
//  0, or -1 (logged).
static int
s_job_run (search_index_t *self, s_job_t *job, float *vec)
{
    const float *add = job->vec;
    if (!add) {
        int e = mg_lsa_embed_doc (self->lsa, &job->doc, vec);
        if (e)
            return e < 0 ? -1 : 0;         //  no known word: no vector, as on one thread
        add = vec;
    }
    return index_vec_append (self, job->rowid, add);
}

static void *
s_worker (void *arg)
{
    search_index_t *self = arg;
    index_pipe_t *pipe = self->pipe;
    float *vec = malloc (self->dims * sizeof *vec);
    pthread_mutex_lock (&pipe->lock);
    pipe->failed = vec == NULL;
    while (true) {
        while (pipe->count == 0 && !pipe->stop)
            pthread_cond_wait (&pipe->queued, &pipe->lock);
        if (pipe->count == 0)
            break;
        s_job_t job = pipe->jobs [pipe->head];
        memset (&pipe->jobs [pipe->head], 0, sizeof job);
        pipe->head = (pipe->head + 1) % PIPE_JOBS;
        pipe->count--;
        pipe->working = true;
        bool failed = pipe->failed;
        pthread_cond_broadcast (&pipe->taken);
        pthread_mutex_unlock (&pipe->lock);
        //  After a failure the rest is dropped: the load fails as a whole.
        int rc = failed ? 0 : s_job_run (self, &job, vec);
        s_job_clear (&job);
        pthread_mutex_lock (&pipe->lock);
        pipe->failed = pipe->failed || rc != 0;
        pipe->working = false;
        pthread_cond_broadcast (&pipe->taken);
    }
    pthread_mutex_unlock (&pipe->lock);
    free (vec);
    return NULL;
}

int
index_pipe_start (search_index_t *self)
{
    assert (self && !self->pipe);
    if (!self->hnsw || !self->lsa || self->read_slots || !mg_config_int ("MG_SEARCH_BUILD_PIPE", 1, 0, 1))
        return 0;
    index_pipe_t *pipe = calloc (1, sizeof *pipe);
    if (!pipe)
        return -1;
    //  Slots already held (a pipe starts after an earlier load's) are in
    //  the doc table already.
    pipe->applied = search_hnsw_count (self->hnsw);
    pthread_mutex_init (&pipe->lock, NULL);
    pthread_cond_init (&pipe->queued, NULL);
    pthread_cond_init (&pipe->taken, NULL);
    self->pipe = pipe;
    if (pthread_create (&pipe->thread, NULL, s_worker, self)) {
        mg_warn ("no thread for the vectors: they are added by the puts", NULL);
        self->pipe = NULL;
        pthread_cond_destroy (&pipe->taken);
        pthread_cond_destroy (&pipe->queued);
        pthread_mutex_destroy (&pipe->lock);
        free (pipe);
    }
    return 0;
}

int
index_pipe_push (search_index_t *self, int64_t rowid, const mg_doc_t *doc)
{
    index_pipe_t *pipe = self->pipe;
    assert (pipe);
    s_job_t job = { .rowid = rowid };
    if (doc->vector_stored) {
        if (!doc->vector || doc->vector_dims != self->dims)
            return 0;                      //  stored as none: no vector, as on one thread
        job.vec = malloc (self->dims * sizeof *job.vec);
        if (!job.vec)
            return -1;
        memcpy (job.vec, doc->vector, self->dims * sizeof *job.vec);
    }
    else
    if (s_job_texts (&job, doc)) {
        s_job_clear (&job);
        return -1;
    }
    pthread_mutex_lock (&pipe->lock);
    while (pipe->count == PIPE_JOBS && !pipe->failed)
        pthread_cond_wait (&pipe->taken, &pipe->lock);
    bool failed = pipe->failed;
    if (!failed) {
        pipe->jobs [(pipe->head + pipe->count) % PIPE_JOBS] = job;
        pipe->count++;
        pthread_cond_signal (&pipe->queued);
    }
    pthread_mutex_unlock (&pipe->lock);
    if (failed)
        s_job_clear (&job);
    return failed ? -1 : 0;
}

int
index_pipe_sync (search_index_t *self)
{
    index_pipe_t *pipe = self->pipe;
    if (!pipe)
        return 0;
    pthread_mutex_lock (&pipe->lock);
    while (pipe->count > 0 || pipe->working)
        pthread_cond_wait (&pipe->taken, &pipe->lock);
    bool failed = pipe->failed;
    pthread_mutex_unlock (&pipe->lock);
    //  The worker is idle until the next push: its slots are read here.
    size_t held = search_hnsw_count (self->hnsw);
    for (size_t slot = pipe->applied; slot < held; slot++) {
        int64_t rowid = self->slot_rowid [slot];
        if (rowid > 0 && (size_t) rowid < self->docs_room)
            self->docs [rowid].slot = (int64_t) slot + 1;
    }
    pipe->applied = held;
    return failed ? -1 : 0;
}

int
index_pipe_stop (search_index_t *self)
{
    index_pipe_t *pipe = self->pipe;
    if (!pipe)
        return 0;
    int rc = index_pipe_sync (self);
    pthread_mutex_lock (&pipe->lock);
    pipe->stop = true;
    pthread_cond_signal (&pipe->queued);
    pthread_mutex_unlock (&pipe->lock);
    pthread_join (pipe->thread, NULL);
    pthread_cond_destroy (&pipe->taken);
    pthread_cond_destroy (&pipe->queued);
    pthread_mutex_destroy (&pipe->lock);
    free (pipe);
    self->pipe = NULL;
    return rc;
}
