/* The HTML report's building blocks: escaping (a class name such as
 * <script>alert(1)</script> comes out as text), base64 against RFC 4648's
 * test vectors and a naive decoder, the document's statement of its own
 * size (exact, also where the number gains a digit), the PNG data: URI, and
 * the round steps of the SVG axes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "html_report.h"
#include "svg_plot.h"

static char *text_of(void (*fn)(FILE *, const char *), const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f, s);
    fclose(f);
    return buf;
}

static void test_escape(void **state)
{
    (void)state;
    char *t = text_of(html_text, "<script>alert(1)</script>");
    assert_string_equal(t, "&lt;script&gt;alert(1)&lt;/script&gt;");
    free(t);
    t = text_of(html_text, "a&b \"q\" 'p' tab\there\x01\x7f caf\xc3\xa9");
    assert_string_equal(t, "a&amp;b &quot;q&quot; &#39;p&#39; tab\there&#xFFFD;&#xFFFD; caf\xc3\xa9");
    free(t);
    t = text_of(html_text, NULL);
    assert_string_equal(t, "");
    free(t);

    char buf[16];
    assert_int_equal(html_escape("<b>", buf, sizeof buf), 9);
    assert_string_equal(buf, "&lt;b&gt;");
    /* Truncation never cuts a reference in half. */
    assert_int_equal(html_escape("ab<cd", buf, 6), 8);
    assert_string_equal(buf, "ab");
    assert_int_equal(html_escape("abc", buf, 3), 3);
    assert_string_equal(buf, "ab");
}

/* An independent decoder: the alphabet's index of each character. */
static size_t naive_decode(const char *s, uint8_t *out)
{
    const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        const char *p = strchr(abc, *s);
        assert_non_null(p);
        acc = acc << 6 | (uint32_t)(p - abc);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

static void test_base64(void **state)
{
    (void)state;
    static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *const want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    char out[16];
    for (int i = 0; i < 7; i++) {
        assert_int_equal(base64_length(strlen(in[i])), strlen(want[i]));
        base64_encode(in[i], strlen(in[i]), out);
        assert_string_equal(out, want[i]);
    }
    /* Long input: the streaming writer (4096-character chunks) agrees with
     * the one-shot encoder, and the naive decoder gives the bytes back. */
    for (size_t n = 3070; n < 3080; n++) {
        uint8_t *data = malloc(n), *back = malloc(n);
        char *one = malloc(base64_length(n) + 1), *stream = NULL;
        size_t len = 0;
        assert_non_null(data);
        for (size_t i = 0; i < n; i++)
            data[i] = (uint8_t)(i * 131 + 7);
        base64_encode(data, n, one);
        FILE *f = open_memstream(&stream, &len);
        assert_int_equal(base64_write(f, data, n), 0);
        fclose(f);
        assert_int_equal(len, base64_length(n));
        assert_string_equal(stream, one);
        assert_int_equal(naive_decode(one, back), n);
        assert_memory_equal(back, data, n);
        free(data);
        free(back);
        free(one);
        free(stream);
    }
}

/* The footer states the document's size, its own digits included. */
static void test_doc_states_its_size(void **state)
{
    (void)state;
    for (int body = 9600; body < 10100; body += 7) {
        html_doc d;
        assert_int_equal(html_doc_open(&d, "t<i>tle"), 0);
        for (int i = 0; i < body; i++)
            fputc('x', d.f);
        size_t size;
        char *doc = html_doc_close(&d, &size);
        assert_non_null(doc);
        assert_int_equal(strlen(doc), size);
        char want[64];
        snprintf(want, sizeof want, "This file is %zu bytes.", size);
        assert_non_null(strstr(doc, want));
        assert_non_null(strstr(doc, "<title>t&lt;i&gt;tle</title>"));
        assert_non_null(strstr(doc, "default-src 'none'"));
        assert_null(strstr(doc, "<script"));
        free(doc);
    }
}

static void test_png_uri(void **state)
{
    (void)state;
    uint8_t px[2 * 2 * 3] = { 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9 };
    unet_image im = { 2, 2, 3, px };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(html_png(f, &im, "a \"b\"", "class=\"t\""), 0);
    fclose(f);
    assert_non_null(strstr(buf, "alt=\"a &quot;b&quot;\" class=\"t\""));
    const char *uri = strstr(buf, "data:image/png;base64,");
    assert_non_null(uri);
    uri += strlen("data:image/png;base64,");
    char *end = strchr(uri, '"');
    assert_non_null(end);
    *end = '\0';
    uint8_t png[1024];
    size_t n = naive_decode(uri, png);
    unet_image back;
    assert_int_equal(unet_image_read_memory(png, n, "uri", UNET_IMAGE_DEFAULT, &back), UNET_OK);
    assert_int_equal(back.width, 2);
    assert_int_equal(back.channels, 3);
    assert_memory_equal(back.pixels, px, sizeof px);
    unet_image_free(&back);
    free(buf);
}

static void test_nice_steps(void **state)
{
    (void)state;
    assert_true(svg_nice_step(0, 1, 5) == 0.2);
    assert_true(svg_nice_step(0, 2.3, 5) == 0.5);
    assert_true(svg_nice_step(1, 30, 8) == 5);
    assert_true(svg_nice_step(0, 0, 5) == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_doc_states_its_size),
        cmocka_unit_test(test_png_uri),
        cmocka_unit_test(test_nice_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
