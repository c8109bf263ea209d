/*  libFuzzer: the OpenAI /v1/embeddings response parser (actors/embedder/
    openai.c) against arbitrary bytes. Nothing may crash; a body it accepts
    must give unit vectors of the dimensions asked.  */
#include "embedder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define COUNT 2                     //  the corpus: two inputs of four dimensions
#define DIMS  4

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    float out [COUNT * DIMS];
    char err [256];
    if (embedder_openai_parse ((const char *) data, size, COUNT, DIMS, out, err, sizeof err) == 0)
        for (int i = 0; i < COUNT; i++) {
            double norm = 0;
            for (int d = 0; d < DIMS; d++)
                norm += (double) out [i * DIMS + d] * out [i * DIMS + d];
            if (fabs (norm - 1) > 1e-3)
                abort ();
        }
    return 0;
}
