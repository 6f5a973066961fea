/*
 * fuzz_jsonw.c - the JSON writer: the input is a little program of writer
 * calls (open, close, key, string of the next bytes, hex, numbers); the
 * output must always validate.
 */
#include "jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jsonw w;
    jw_init(&w);
    jw_obj_open(&w);
    size_t i = 0;
    int in_obj[64] = {1};
    int depth = 0;
    while (i < size) {
        uint8_t op = data[i++];
        size_t n = i < size ? data[i] : 0;
        if (n > size - i)
            n = size - i;
        switch (op % 9) {
        case 0:
            if (in_obj[depth])
                jw_key(&w, "k");
            if (depth < 60) {
                jw_obj_open(&w);
                in_obj[++depth] = 1;
            }
            break;
        case 1:
            if (in_obj[depth])
                jw_key(&w, "a");
            if (depth < 60) {
                jw_arr_open(&w);
                in_obj[++depth] = 0;
            }
            break;
        case 2:
            if (depth > 0) {
                jw_close(&w);
                depth--;
            }
            break;
        default:
            if (in_obj[depth])
                jw_key(&w, "v");
            if (op % 9 == 3)
                jw_str(&w, data + i, n);
            else if (op % 9 == 4)
                jw_hex(&w, data + i, n);
            else if (op % 9 == 5)
                jw_uint(&w, n * 0x9e3779b97f4a7c15ull);
            else if (op % 9 == 6)
                jw_int(&w, (int64_t)(n * 0x9e3779b97f4a7c15ull));
            else if (op % 9 == 7)
                jw_fixed(&w, (double)n / 7.0 - 10, (int)(n % 12));
            else
                jw_time_ns(&w, n * 123456789123ull);
            i += n;
            break;
        }
    }
    jw_finish(&w);
    if (!w.overflow && !json_validate(w.buf, w.len))
        abort();
    jw_free(&w);
    return 0;
}
