/*  Hybrid logical clocks (Kulkarni et al., 2014): physical milliseconds plus
    a counter, so that timestamps follow causality, stay close to wall time,
    and order every event of every device totally (ties broken by node).  */
#ifndef SYNC_HLC_H_INCLUDED
#define SYNC_HLC_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define HLC_TEXT_LEN  32            //  "wwwwwwwwwwww-cccccccc-nnnnnnnn" and its NUL

typedef struct {
    int64_t wall_ms;                //  physical part: ms since the epoch (may run ahead)
    uint32_t counter;               //  logical part within one wall_ms
    uint32_t node;                  //  who stamped it: breaks ties
} hlc_t;

typedef struct {
    hlc_t last;                     //  the latest timestamp issued or seen
    uint32_t node;
    int64_t max_drift_ms;           //  received stamps further ahead of our clock are refused
} hlc_clock_t;

//  Start a clock for node. last is the latest timestamp this node ever
//  issued (from storage; zeroed for a new node): time never runs backwards
//  across restarts.
void hlc_clock_init (hlc_clock_t *clock, uint32_t node, hlc_t last, int64_t max_drift_ms);

//  Timestamp for a local event at physical time now_ms.
hlc_t hlc_clock_now (hlc_clock_t *clock, int64_t now_ms);

//  Take in remote, a timestamp received at physical time now_ms: out is a
//  timestamp after both remote and everything this clock issued. Returns 0,
//  or -1 when remote is more than max_drift_ms ahead of now_ms (a device
//  with a wrong clock must not drag everyone's time into the future).
int hlc_clock_receive (hlc_clock_t *clock, hlc_t remote, int64_t now_ms, hlc_t *out);

//  -1, 0 or 1 as a is before, equal to or after b.
int hlc_compare (hlc_t a, hlc_t b);

//  Fixed-width lower-case hex text: text order is timestamp order.
void hlc_format (hlc_t t, char out [HLC_TEXT_LEN]);

//  Parse hlc_format's text. Returns 0, or -1 when text is not one.
int hlc_parse (const char *text, hlc_t *out);

#endif
