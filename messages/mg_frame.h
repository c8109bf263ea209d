/*  Bus frames of protocol MG1 (docs/protocol.md): constants, validation and
    builders shared by the broker, the gateway and the actor runtime.  */
#ifndef MG_FRAME_H_INCLUDED
#define MG_FRAME_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define MG_FRAME_PROTOCOL  "MG1"
#define MG_NAME_MAX        64       //  bytes in "service.method"
#define MG_REQID_MAX       32       //  bytes in a request id
#define MG_TTL_MAX_MS      600000   //  10 min: longest any client may wait
#define MG_CREDIT_MAX      1024     //  most requests one worker may hold
#define MG_EVENTS_HWM      100000   //  events queued per pipe of the event path (publisher,
                                    //  the broker's proxy, a gateway thread) before they drop:
                                    //  a burst of one per watcher of a title passes whole, and a
                                    //  stalled peer holds at most this many (~50 MB of 500-byte events)

typedef enum {
    MG_CMD_UNKNOWN = 0,
    MG_CMD_REQ,
    MG_CMD_REP,
    MG_CMD_ERR,
    MG_CMD_READY,
    MG_CMD_HB,
    MG_CMD_RESET,
    MG_CMD_BYE,
    MG_CMD_DECLINE
} mg_cmd_t;

//  Command text for cmd ("REQ", ...).
const char *mg_frame_cmd_text (mg_cmd_t cmd);

//  Command named by frame, or MG_CMD_UNKNOWN.
mg_cmd_t mg_frame_cmd (zframe_t *frame);

//  True when frame holds exactly "MG1".
bool mg_frame_is_protocol (zframe_t *frame);

//  True when name (len bytes, not NUL-terminated) is a valid method name:
//  1..MG_NAME_MAX bytes of [a-z0-9_.-] with a '.' that is neither first nor last.
bool mg_frame_name_valid (const char *name, size_t len);

//  Length of the service part of a valid method name (bytes before the '.').
size_t mg_frame_service_len (const char *name, size_t len);

//  Parse an ASCII decimal frame in [min, max]. Returns 0 or -1.
int mg_frame_uint (zframe_t *frame, uint32_t min, uint32_t max, uint32_t *value);

#define MG_FRAME_IDEMPOTENT "idempotent"  //  a request's optional 7th frame: running it twice
                                        //  is harmless, so a lost worker's copy may go to another

//  New client request: MG1 REQ name id ttl body. body may be NULL (empty).
zmsg_t *mg_frame_request (const char *name, const void *id, size_t id_len,
                          uint32_t ttl_ms, const void *body, size_t body_len);

//  New msgpack body of an error message. Returns NULL only on out of memory.
zframe_t *mg_frame_error_body (const char *code, const char *message,
                               uint32_t retry_after);

#endif
