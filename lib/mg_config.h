/*  12-factor configuration: a variable from the process environment always
    wins; otherwise the value from the defaults file (MG_CONFIG_FILE, else
    config/default.env under the working directory); otherwise the fallback. */
#ifndef MG_CONFIG_H_INCLUDED
#define MG_CONFIG_H_INCLUDED

#include <stdint.h>

//  Value of name, or fallback. The returned string lives until exit.
const char *mg_config_str (const char *name, const char *fallback);

//  Integer value of name, or fallback when unset or not a clean integer in
//  [min, max] (a bad value is logged once, never silently used).
int64_t mg_config_int (const char *name, int64_t fallback, int64_t min, int64_t max);

#endif
