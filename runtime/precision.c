/* Which arithmetic a session may use on this CPU, and which CPU and ISA it is. */
#include <stdio.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <unet/unet.h>

#include "error.h"

unet_status unet_precision_parse(const char *name, unet_precision *out)
{
    static const struct { const char *name; unet_precision p; } names[] = {
        {"fp32", UNET_PRECISION_FP32}, {"bf16", UNET_PRECISION_BF16}, {"int8", UNET_PRECISION_INT8}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].p;
            return UNET_OK;
        }
    return unet_set_error(UNET_ERR_ARG, "unknown precision '%s' (expected fp32, bf16 or int8)",
                          name ? name : "(null)");
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "SSE4.1";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2 with AVX-VNNI";
    case dnnl_cpu_isa_avx512_mic: return "AVX-512 (MIC)";
    case dnnl_cpu_isa_avx512_mic_4ops: return "AVX-512 (MIC, 4 ops)";
    case dnnl_cpu_isa_avx512_core: return "AVX-512";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 with VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 with BF16 and VNNI";
    case dnnl_cpu_isa_avx512_core_amx: return "AVX-512 with AMX";
    default: return "no vector extension oneDNN uses";
    }
}

/* oneDNN's own name of the ISA (as ONEDNN_MAX_CPU_ISA and ONEDNN_VERBOSE
 * spell it, in lower case), then isa_name()'s gloss. */
const char *unet_cpu_isa(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41 (SSE4.1)";
    case dnnl_cpu_isa_avx: return "avx (AVX)";
    case dnnl_cpu_isa_avx2: return "avx2 (AVX2)";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni (AVX2 with AVX-VNNI)";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic (AVX-512 (MIC))";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops (AVX-512 (MIC, 4 ops))";
    case dnnl_cpu_isa_avx512_core: return "avx512_core (AVX-512)";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni (AVX-512 with VNNI)";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16 (AVX-512 with BF16 and VNNI)";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx (AVX-512 with AMX)";
    default: return "none (no vector extension oneDNN uses)";
    }
}

const char *unet_cpu_model(char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    snprintf(buf, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return buf;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (!v)
            continue;
        for (v++; *v == ' ' || *v == '\t'; v++) {
        }
        size_t n = strcspn(v, "\n");
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (n > 0)
            snprintf(buf, size, "%.*s", (int)n, v);
        break;
    }
    fclose(f);
    return buf;
}

/* isa includes every feature of want (oneDNN's ISA values are bit masks). */
static int has_isa(dnnl_cpu_isa_t isa, dnnl_cpu_isa_t want)
{
    return ((unsigned)isa & (unsigned)want) == (unsigned)want;
}

unet_status unet_precision_check(unet_precision precision)
{
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    switch (precision) {
    case UNET_PRECISION_FP32: return UNET_OK;
    case UNET_PRECISION_BF16:
        if (!has_isa(isa, dnnl_cpu_isa_avx512_core_bf16))
            return unet_set_error(UNET_ERR_UNSUPPORTED,
                                  "bf16 inference needs a CPU with AVX-512 BF16 (Intel Cooper Lake, "
                                  "Sapphire Rapids or later; AMD Zen 4 or later); this one offers %s "
                                  "(oneDNN's effective ISA). Use fp32",
                                  isa_name(isa));
        return UNET_OK;
    case UNET_PRECISION_INT8:
        if (!has_isa(isa, dnnl_cpu_isa_avx512_core_vnni) && !has_isa(isa, dnnl_cpu_isa_avx2_vnni))
            return unet_set_error(UNET_ERR_UNSUPPORTED,
                                  "int8 convolutions need a CPU with VNNI (AVX-512 VNNI or AVX-VNNI); "
                                  "this one offers %s (oneDNN's effective ISA), so a QDQ model's "
                                  "arithmetic runs in fp32 here. Use fp32",
                                  isa_name(isa));
        return unet_set_error(UNET_ERR_UNSUPPORTED,
                              "int8 is not a session setting: it comes from the model. Run a "
                              "quantised (QDQ) ONNX file with fp32; its QDQ convolutions run in "
                              "int8 on this CPU (%s)",
                              isa_name(isa));
    }
    return unet_set_error(UNET_ERR_ARG, "unknown precision %d", (int)precision);
}
