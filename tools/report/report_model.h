/* The "Model" section of an HTML report: file name, SHA-256 of the file,
 * input shape, parameter count, ONNX opset, the classes with colour swatches
 * and the unet.training metadata when the model has it. Shared by unet-eval
 * --report and unet-train --report, so both describe a model alike. */
#ifndef UNET_TOOLS_REPORT_MODEL_H
#define UNET_TOOLS_REPORT_MODEL_H

#include <stdint.h>
#include <stdio.h>

typedef struct report_class {
    const char *name;
    uint8_t rgb[3];
} report_class;

/* The classes of a palette (names borrowed from it), malloc'd, at least one
 * entry so that an empty palette still gives a pointer; NULL when out of memory. */
struct unet_palette;
report_class *report_classes_of_palette(const struct unet_palette *pal);

/* Opens model_path itself (the caller's session is not needed). 0, or -1
 * with the reason in unet_last_error() (the section then says so too). */
int report_model_section(FILE *f, const char *model_path, const report_class *cls, int n_classes);
/* The class legend alone: swatch, id and name per class. */
void report_class_legend(FILE *f, const report_class *cls, int n_classes);

#endif
