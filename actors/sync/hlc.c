/*  Hybrid logical clocks (see hlc.h).  */
#include "hlc.h"

#include <stdio.h>
#include <string.h>

#define WALL_DIGITS     12          //  hex digits of wall_ms: good until the year 10889
#define WALL_MAX        0xffffffffffffLL

void
hlc_clock_init (hlc_clock_t *clock, uint32_t node, hlc_t last, int64_t max_drift_ms)
{
    memset (clock, 0, sizeof *clock);
    clock->node = node;
    clock->last = last;
    clock->last.node = node;
    clock->max_drift_ms = max_drift_ms;
}

//  The clock's next value after wall time l: same wall -> counter + 1; a
//  full counter moves wall time on by one millisecond instead.
static void
s_tick (hlc_t *t, int64_t wall, uint32_t counter)
{
    if (counter == UINT32_MAX) {
        t->wall_ms = wall + 1;
        t->counter = 0;
    }
    else {
        t->wall_ms = wall;
        t->counter = counter + 1;
    }
}

hlc_t
hlc_clock_now (hlc_clock_t *clock, int64_t now_ms)
{
    hlc_t *last = &clock->last;
    if (now_ms > last->wall_ms) {
        last->wall_ms = now_ms;
        last->counter = 0;
    }
    else
        s_tick (last, last->wall_ms, last->counter);
    last->node = clock->node;
    return *last;
}

int
hlc_clock_receive (hlc_clock_t *clock, hlc_t remote, int64_t now_ms, hlc_t *out)
{
    if (remote.wall_ms > now_ms + clock->max_drift_ms || remote.wall_ms < 0 || remote.wall_ms > WALL_MAX)
        return -1;
    hlc_t *last = &clock->last;
    int64_t wall = now_ms;
    if (last->wall_ms > wall)
        wall = last->wall_ms;
    if (remote.wall_ms > wall)
        wall = remote.wall_ms;
    if (wall == last->wall_ms && wall == remote.wall_ms)
        s_tick (last, wall, last->counter > remote.counter ? last->counter : remote.counter);
    else
    if (wall == last->wall_ms)
        s_tick (last, wall, last->counter);
    else
    if (wall == remote.wall_ms)
        s_tick (last, wall, remote.counter);
    else {
        last->wall_ms = wall;
        last->counter = 0;
    }
    last->node = clock->node;
    *out = *last;
    return 0;
}

int
hlc_compare (hlc_t a, hlc_t b)
{
    if (a.wall_ms != b.wall_ms)
        return a.wall_ms < b.wall_ms ? -1 : 1;
    if (a.counter != b.counter)
        return a.counter < b.counter ? -1 : 1;
    if (a.node != b.node)
        return a.node < b.node ? -1 : 1;
    return 0;
}

void
hlc_format (hlc_t t, char out [HLC_TEXT_LEN])
{
    snprintf (out, HLC_TEXT_LEN, "%012llx-%08x-%08x",
              (unsigned long long) (t.wall_ms & WALL_MAX), (unsigned) t.counter, (unsigned) t.node);
}

int
hlc_parse (const char *text, hlc_t *out)
{
    if (!text || strlen (text) != WALL_DIGITS + 1 + 8 + 1 + 8 || text [12] != '-' || text [21] != '-')
        return -1;
    for (int i = 0; text [i]; i++)
        if (i != 12 && i != 21 && !((text [i] >= '0' && text [i] <= '9') || (text [i] >= 'a' && text [i] <= 'f')))
            return -1;
    unsigned long long wall;
    unsigned counter, node;
    if (sscanf (text, "%12llx-%8x-%8x", &wall, &counter, &node) != 3)
        return -1;
    out->wall_ms = (int64_t) wall;
    out->counter = counter;
    out->node = node;
    return 0;
}
