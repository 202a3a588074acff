/* Checks of text before it goes into a file other tools read: valid UTF-8
 * (no overlong forms, surrogates or code points past U+10FFFF; protobuf
 * strings and JSON must be UTF-8), and one JSON value by RFC 8259's syntax
 * (nesting capped), so a malformed summary is caught by its writer rather
 * than by whoever reads the model. 1 when valid, 0 when not. */
#ifndef UNET_TOOLS_JSON_CHECK_H
#define UNET_TOOLS_JSON_CHECK_H

int json_check_utf8(const char *text);
int json_check_text(const char *text);

#endif
