/*
 * test_sha256.c - SHA-256 against the FIPS 180-2 / NIST example vectors ("abc", "", the 448-bit and 896-bit messages,
 * one million 'a'), plus incremental-update consistency at every split point around the 64-byte block and 56-byte
 * padding boundaries.
 *   ctest --test-dir build -R test_sha256     (or run build/tests/test_sha256)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "re_test.h"

static void hex32(const uint8_t d[32], char out[65]) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = 0;
}

static void check_vec(const char *msg, size_t n, const char *want) {
    char got[65];
    re_sha256_hex(msg, n, got);
    CHECK_MSG(strcmp(got, want) == 0, "len %zu: got %s want %s", n, got, want);
}

int main(void) {
    /* FIPS 180-2 appendix B and NIST CSRC examples. */
    check_vec("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_vec("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_vec(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_vec(m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                       "mnopqrstnopqrstu";
    check_vec(m896, strlen(m896), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* One million 'a', fed in uneven chunks through the streaming API. */
    {
        static char a[1000];
        memset(a, 'a', sizeof a);
        re_sha256 c;
        uint8_t d[32];
        char got[65];
        re_sha256_init(&c);
        size_t left = 1000000, k = 0;
        while (left) {
            size_t chunk = 1 + (k++ * 37) % 999; /* 1..999 bytes */
            if (chunk > left) chunk = left;
            re_sha256_update(&c, a, chunk);
            left -= chunk;
        }
        re_sha256_final(&c, d);
        hex32(d, got);
        CHECK_MSG(strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "1M 'a': %s",
                  got);
    }

    /* Split-point consistency: for every length 0..200 and every split, two updates == one update. */
    {
        uint8_t msg[200];
        for (int i = 0; i < 200; i++) msg[i] = (uint8_t)(i * 131 + 7);
        int bad = 0;
        for (size_t n = 0; n <= sizeof msg && !bad; n++) {
            char one[65], two[65];
            re_sha256_hex(msg, n, one);
            for (size_t s = 0; s <= n && !bad; s++) {
                re_sha256 c;
                uint8_t d[32];
                re_sha256_init(&c);
                re_sha256_update(&c, msg, s);
                re_sha256_update(&c, msg + s, n - s);
                re_sha256_final(&c, d);
                hex32(d, two);
                if (strcmp(one, two) != 0) {
                    bad = 1;
                    CHECK_MSG(0, "len %zu split %zu: %s vs %s", n, s, one, two);
                }
            }
        }
        CHECK(!bad);
    }
    RE_TEST_END();
}
