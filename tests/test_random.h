/* Seeded uniform test inputs (xorshift64*): the same values on every machine. */
#ifndef UNET_TESTS_TEST_RANDOM_H
#define UNET_TESTS_TEST_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* The next value in [0, 1) of the sequence kept in *state (non-zero). */
double test_random_uniform(uint64_t *state);
/* n floats uniform in [lo, hi), malloc'ed; NULL when out of memory. */
float *test_random_floats(size_t n, double lo, double hi, uint64_t *state);

#endif
