/*  libFuzzer: the provider simulator's decoders of its admin API bodies
    (POST /_sim/faults, POST /_sim/latency) and of --fault specs, against
    arbitrary bytes. Nothing may crash; an accepted setting must be within
    its documented bounds, and a refused one must say why.  */
#include "sim_faults.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err [256];
    sim_fault_t fault;
    err [0] = '\0';
    if (sim_fault_from_json ((const char *) data, size, &fault, err, sizeof err) == 0) {
        if (fault.provider >= SIM_PROVIDER_COUNT || fault.kind >= SIM_FAULT_KIND_COUNT
        ||  !(fault.rate >= 0 && fault.rate <= 1) || fault.count == 0 || fault.count < -1
        ||  fault.retry_after_s < 0 || fault.delay_ms < 0 || fault.delay_ms > SIM_LATENCY_MAX_MS)
            abort ();
    }
    else
    if (!err [0])
        abort ();
    long ms;
    sim_provider_t provider;
    err [0] = '\0';
    if (sim_latency_from_json ((const char *) data, size, &ms, &provider, err, sizeof err) == 0) {
        if (ms < 0 || ms > SIM_LATENCY_MAX_MS || provider > SIM_PROVIDER_COUNT)
            abort ();
    }
    else
    if (!err [0])
        abort ();
    char *spec = malloc (size + 1);
    if (!spec)
        return 0;
    memcpy (spec, data, size);
    spec [size] = '\0';
    err [0] = '\0';
    if (sim_fault_from_spec (spec, &fault, err, sizeof err) == 0) {
        if (fault.provider >= SIM_PROVIDER_COUNT || fault.kind >= SIM_FAULT_KIND_COUNT
        ||  !(fault.rate >= 0 && fault.rate <= 1))
            abort ();
    }
    else
    if (!err [0])
        abort ();
    free (spec);
    return 0;
}
