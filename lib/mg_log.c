/*  Structured logs: one line per event, written with one write(2) so lines
    from several threads never interleave.  */
#include "mg_log.h"
#include "mg_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX  2048          //  longer lines are cut, never split

static char s_actor [64] = "-";
static _Atomic int s_min_level = -1;  //  read from MG_LOG_LEVEL on first use

static const char *s_level_names [] = { "debug", "info", "warn", "error" };

void
mg_log_init (const char *actor)
{
    snprintf (s_actor, sizeof s_actor, "%s", actor ? actor : "-");
}

//  Minimum level from MG_LOG_LEVEL (default info).
static int
s_level (void)
{
    if (s_min_level < 0) {
        const char *name = mg_config_str ("MG_LOG_LEVEL", "info");
        int level = MG_LOG_INFO;
        for (int i = 0; i < 4; i++)
            if (strcmp (name, s_level_names [i]) == 0)
                level = i;
        s_min_level = level;
    }
    return s_min_level;
}

void
mg_log (mg_log_level_t level, const char *msg, const char *fmt, ...)
{
    if ((int) level < s_level ())
        return;
    char line [LOG_LINE_MAX];
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    int n = snprintf (line, sizeof line,
                      "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s actor=%s msg=\"",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, ts.tv_nsec / 1000000, s_level_names [level], s_actor);
    size_t at = n > 0 ? (size_t) n : 0;
    //  The message is quoted: escape quotes, backslashes and line breaks.
    for (const char *p = msg; p && *p && at + 3 < sizeof line; p++) {
        if (*p == '"' || *p == '\\')
            line [at++] = '\\';
        line [at++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
    }
    if (at + 1 < sizeof line)
        line [at++] = '"';
    if (fmt && *fmt && at + 2 < sizeof line) {
        line [at++] = ' ';
        va_list args;
        va_start (args, fmt);
        int m = vsnprintf (line + at, sizeof line - at, fmt, args);
        va_end (args);
        if (m > 0)
            at += (size_t) m < sizeof line - at ? (size_t) m : sizeof line - at - 1;
    }
    if (at >= sizeof line - 1)
        at = sizeof line - 2;
    line [at++] = '\n';
    ssize_t written = write (STDERR_FILENO, line, at);
    (void) written;           //  nowhere left to report a failed log write
}
