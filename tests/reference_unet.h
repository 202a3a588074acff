/* A naive, obviously-correct U-Net forward in double precision: the
 * independent reference that end-to-end tests of the trainer and the runtime
 * compare against. Plain loops over plain NCHW arrays, no oneDNN, no blocking,
 * no shared code with either; parameters are looked up by their ONNX names
 * (see trainer/net.h) in a unet_params. Slow by design: keep shapes small. */
#ifndef UNET_TESTS_REFERENCE_UNET_H
#define UNET_TESTS_REFERENCE_UNET_H

#include <stddef.h>

#include "net.h"

#define REFERENCE_BN_EPSILON 1e-5

/* The building blocks, exposed so they can be checked by hand. All arrays are
 * dense NCHW; out never aliases in. */

/* out[n,o,y,x] = bias[o] + sum_{i,ky,kx} w[o,i,ky,kx] * in[n,i,y+ky-pad,x+kx-pad]
 * (zero outside), stride 1, so out is h x w when k = 2*pad+1. w is OIHW. */
void ref_conv2d(const double *in, int n, int c_in, int h, int w, const float *weight,
                const float *bias, int c_out, int k, int pad, double *out);
/* In place: x = scale * (x - mean) / sqrt(var + eps) + shift, per channel. */
void ref_batchnorm(double *x, int n, int c, int hw, const float *scale, const float *shift,
                   const float *mean, const float *var, double eps);
void ref_relu(double *x, size_t count);
/* 2x2 max, stride 2: out is (h/2) x (w/2). */
void ref_maxpool2(const double *in, int n, int c, int h, int w, double *out);
/* ConvTranspose 2x2 stride 2, no padding, w is IOHW (ONNX):
 * out[n,o,y,x] = bias[o] + sum_i in[n,i,y/2,x/2] * w[i,o,y%2,x%2]; out is 2h x 2w. */
void ref_convtranspose2(const double *in, int n, int c_in, int h, int w, const float *weight,
                        const float *bias, int c_out, double *out);
/* Channel concat: out[n] = (a[n] channels, then b[n] channels). */
void ref_concat(const double *a, int ca, const double *b, int cb, int n, int hw, double *out);
/* Softmax over channels at every pixel. */
void ref_softmax(const double *in, int n, int c, int hw, double *out);

/* Runs the whole U-Net of params on input (n x in_channels x h x w floats, NCHW)
 * with BN in inference form (running mean/var) and no dropout. logits and probs
 * (each n x n_classes x h x w, either may be NULL) receive the head output and
 * its softmax. h and w must be divisible by 2^depth. Returns 0, or -1 with a
 * message on stderr when a parameter is missing or mis-shaped or a size is bad. */
int reference_unet_forward(const unet_params *params, int n, int h, int w, const float *input,
                           double *logits, double *probs);

#endif
