/*  Fault injection: per provider, a list of faults each applied to a share
    of requests (rate, drawn from a seeded PRNG so runs repeat) and
    optionally only to the next N requests. Also the decoders of the admin
    API's JSON bodies and of --fault specs (external input: fuzzed).  */
#ifndef SIM_FAULTS_H_INCLUDED
#define SIM_FAULTS_H_INCLUDED

#include "sim.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SIM_FAULT_429, SIM_FAULT_500, SIM_FAULT_502, SIM_FAULT_503, SIM_FAULT_TIMEOUT,
    SIM_FAULT_SLOW, SIM_FAULT_MALFORMED, SIM_FAULT_TRUNCATED, SIM_FAULT_WRONG_TYPES,
    SIM_FAULT_QUOTA, SIM_FAULT_KIND_COUNT
} sim_fault_kind_t;

#define SIM_FAULT_RETRY_AFTER_S  1      //  default Retry-After of a 429
#define SIM_FAULT_DELAY_MS       2000   //  default extra delay of "slow"
#define SIM_FAULTS_MAX           16     //  faults held per provider

typedef struct {
    sim_provider_t provider;
    sim_fault_kind_t kind;
    double rate;                    //  0..1, share of requests hit
    long count;                     //  requests left to hit; -1: no limit
    int retry_after_s;
    int delay_ms;
} sim_fault_t;

typedef struct sim_faults_t sim_faults_t;

sim_faults_t *sim_faults_new (uint64_t seed);
void sim_faults_destroy (sim_faults_t **self_p);

//  Add fault (copied). -1 when the provider already holds SIM_FAULTS_MAX.
int sim_faults_add (sim_faults_t *self, const sim_fault_t *fault);

//  Drop the faults of provider, or of all when provider is SIM_PROVIDER_COUNT.
void sim_faults_clear (sim_faults_t *self, sim_provider_t provider);

//  Does a fault hit this request of provider? Fills hit and consumes one of
//  its count. Faults are tried in the order they were added.
bool sim_faults_draw (sim_faults_t *self, sim_provider_t provider, sim_fault_t *hit);

//  Names as the admin API and --fault spell them; NULL/-1 when unknown.
const char *sim_provider_name (sim_provider_t provider);
int sim_provider_from_name (const char *name, size_t len);
const char *sim_fault_kind_name (sim_fault_kind_t kind);
int sim_fault_kind_from_name (const char *name, size_t len);

//  Decode the admin body {"provider","fault","rate"?,"count"?,"retry_after"?,
//  "delay_ms"?}. 0, or -1 with a reason naming the bad field.
int sim_fault_from_json (const char *text, size_t len, sim_fault_t *fault, char *err, size_t errlen);

//  Decode a --fault spec "provider:kind[:rate]". 0, or -1 with a reason.
int sim_fault_from_spec (const char *spec, sim_fault_t *fault, char *err, size_t errlen);

//  Decode the admin body {"ms":N, "provider"?:…}: provider is
//  SIM_PROVIDER_COUNT when absent. 0, or -1 with a reason.
int sim_latency_from_json (const char *text, size_t len, long *ms, sim_provider_t *provider,
                           char *err, size_t errlen);

#define SIM_LATENCY_MAX_MS  600000      //  10 min: longer is surely a typo

#endif
