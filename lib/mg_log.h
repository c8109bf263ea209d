/*  Structured one-line logs to stderr:
        ts=2026-11-24T10:00:00.123Z level=info actor=catalog msg="ready" workers=2
    Level from MG_LOG_LEVEL (debug, info, warn, error; default info).  */
#ifndef MG_LOG_H_INCLUDED
#define MG_LOG_H_INCLUDED

typedef enum { MG_LOG_DEBUG, MG_LOG_INFO, MG_LOG_WARN, MG_LOG_ERROR } mg_log_level_t;

//  Name this process in every line (call once at start).
void mg_log_init (const char *actor);

//  Log msg (quoted) then the key=value pairs formatted by fmt (may be NULL).
void mg_log (mg_log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define mg_debug(msg, ...) mg_log (MG_LOG_DEBUG, msg, __VA_ARGS__)
#define mg_info(msg, ...)  mg_log (MG_LOG_INFO, msg, __VA_ARGS__)
#define mg_warn(msg, ...)  mg_log (MG_LOG_WARN, msg, __VA_ARGS__)
#define mg_error(msg, ...) mg_log (MG_LOG_ERROR, msg, __VA_ARGS__)

#endif
