/* Seeded uniform test inputs (test_random.h). */
#include <stdlib.h>

#include "test_random.h"

double test_random_uniform(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (double)((*state * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

float *test_random_floats(size_t n, double lo, double hi, uint64_t *state)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(lo + (hi - lo) * test_random_uniform(state));
    return p;
}
