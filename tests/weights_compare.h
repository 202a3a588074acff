/* Comparing the weights of two models or checkpoints written by unet-train,
 * read back through the trainer (init_weights). Every helper fails the
 * running cmocka test on error. Test code only. */
#ifndef UNET_TESTS_WEIGHTS_COMPARE_H
#define UNET_TESTS_WEIGHTS_COMPARE_H

/* Fails the test, naming the first parameter that differs, unless the two
 * hold bit-identical parameters. */
void weights_assert_same(const char *a_path, const char *b_path);

/* ||a - b|| / ||a|| over every parameter (BN running statistics included);
 * *identical (when not NULL) is 1 when they are equal bit for bit. */
double weights_relative_difference(const char *a_path, const char *b_path, int *identical);

#endif
