/* The model section of HTML reports (see report_model.h). */
#include "report_model.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <unet/palette.h>
#include <unet/unet.h>

#include "html_report.h"
#include "sha256.h"

void report_class_legend(FILE *f, const report_class *cls, int n_classes)
{
    fputs("<ul class=\"legend\" style=\"list-style:none;padding:0\">", f);
    for (int c = 0; c < n_classes; c++) {
        fprintf(f, "<li style=\"display:inline-block;margin-right:1.2em\" data-class=\"%d\">", c);
        html_swatch(f, cls[c].rgb, NULL);
        fprintf(f, "%d ", c);
        html_text(f, cls[c].name);
        fprintf(f, " <code>#%02X%02X%02X</code></li>", cls[c].rgb[0], cls[c].rgb[1], cls[c].rgb[2]);
    }
    fputs("</ul>\n", f);
}

static void shape(FILE *f, const unet_tensor_info *t)
{
    if (t->rank < 0) {
        fputs("unknown", f);
        return;
    }
    fputc('[', f);
    for (int i = 0; i < t->rank; i++) {
        if (i)
            fputs(", ", f);
        if (t->dims[i] >= 0)
            fprintf(f, "%" PRId64, t->dims[i]);
        else
            html_text(f, t->dim_params[i] ? t->dim_params[i] : "?");
    }
    fputc(']', f);
}

int report_model_section(FILE *f, const char *model_path, const report_class *cls, int n_classes)
{
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    fputs("<section id=\"model\">\n<h2>Model</h2>\n<dl class=\"facts\">\n<dt>name</dt><dd id=\"model-name\">", f);
    html_text(f, base);
    fputs("</dd>\n<dt>file</dt><dd>", f);
    html_text(f, model_path);
    char hex[65];
    int rc = 0;
    if (sha256_file_hex(model_path, hex) == UNET_OK)
        fprintf(f, "</dd>\n<dt>SHA-256</dt><dd id=\"model-sha256\"><code>%s</code>", hex);
    else
        rc = -1;
    unet_model *m = NULL;
    if (rc == 0 && unet_model_open_file(model_path, NULL, &m) != UNET_OK)
        rc = -1;
    if (m) {
        unet_tensor_info in;
        for (int i = 0; i < unet_model_input_count(m); i++)
            if (unet_model_input_info(m, i, &in) == UNET_OK) {
                fputs("</dd>\n<dt>input</dt><dd id=\"model-input\">", f);
                html_text(f, in.name ? in.name : "");
                fputc(' ', f);
                shape(f, &in);
            }
        fprintf(f, "</dd>\n<dt>parameters</dt><dd id=\"model-parameters\">%" PRId64
                   "</dd>\n<dt>opset</dt><dd id=\"model-opset\">%d",
                unet_model_parameter_count(m), unet_model_opset(m, ""));
        const char *training = unet_model_metadata(m, "unet.training");
        if (training) {
            fputs("</dd>\n<dt>training</dt><dd><pre>", f);
            html_text(f, training);
            fputs("</pre>", f);
        }
        unet_model_free(m);
    }
    if (rc != 0) {
        fputs("</dd>\n<dt>problem</dt><dd>", f);
        html_text(f, unet_last_error());
    }
    fprintf(f, "</dd>\n<dt>classes</dt><dd>%d", n_classes);
    report_class_legend(f, cls, n_classes);
    fputs("</dd>\n</dl>\n</section>\n", f);
    return rc;
}

report_class *report_classes_of_palette(const unet_palette *pal)
{
    int k = pal->n_classes;
    report_class *cls = calloc((size_t)(k > 0 ? k : 1), sizeof *cls);
    for (int c = 0; cls && c < k; c++) {
        cls[c].name = pal->classes[c].name;
        memcpy(cls[c].rgb, pal->classes[c].rgb, 3);
    }
    return cls;
}
