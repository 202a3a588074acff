/* Quantisation parameters: see quant_params.h. */
#include <math.h>

#include "quant_params.h"

int qz_choose_activation(double lo, double hi, int qmax, float *scale, uint8_t *zero)
{
    if (!isfinite(lo) || !isfinite(hi) || lo > hi || qmax < 1 || qmax > 255)
        return -1;
    if (lo > 0.0)
        lo = 0.0;
    if (hi < 0.0)
        hi = 0.0;
    if (hi - lo <= 0.0) {
        *scale = 1.0f;
        *zero = 0;
        return 0;
    }
    float s = (float)((hi - lo) / qmax);
    if (!(s > 0.0f) || !isfinite(s))
        return -1; /* a range below float's smallest step, or beyond its largest */
    double z = nearbyint(-lo / s);
    *scale = s;
    *zero = (uint8_t)(z < 0.0 ? 0.0 : z > qmax ? qmax : z);
    return 0;
}

double qz_quantize_weights(const float *w, int64_t oc, int64_t per_oc, int8_t *q, float *scale)
{
    double worst = 0.0;
    for (int64_t c = 0; c < oc; c++) {
        const float *wc = w + c * per_oc;
        double amax = 0.0;
        for (int64_t k = 0; k < per_oc; k++) {
            if (!isfinite(wc[k]))
                return -1.0;
            amax = fmax(amax, fabs(wc[k]));
        }
        float s = amax > 0.0 ? (float)(amax / 127.0) : 1.0f;
        if (!(s > 0.0f))
            s = 1.0f; /* weights below float's smallest step: all round to 0 anyway */
        scale[c] = s;
        for (int64_t k = 0; k < per_oc; k++) {
            double r = nearbyint((double)wc[k] / s);
            r = r < -127.0 ? -127.0 : r > 127.0 ? 127.0 : r;
            q[c * per_oc + k] = (int8_t)r;
            worst = fmax(worst, fabs(wc[k] - r * s));
        }
    }
    return worst;
}
