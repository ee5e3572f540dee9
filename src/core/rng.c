/*
 * rng.c - xoshiro256** seeded by splitmix64. Plain-data state (checkpointable), identical output on every
 * platform; normals by Box-Muller (one normal per call, no cached second value, so the state alone is the RNG).
 */
#include <math.h>

#include "core/core.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void re_rng_seed(re_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t re_rng_next(re_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double re_rng_uniform(re_rng *r) { return (double)(re_rng_next(r) >> 11) * 0x1.0p-53; }

float re_rng_normal(re_rng *r) {
    double u1 = re_rng_uniform(r), u2 = re_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2));
}

uint64_t re_rng_below(re_rng *r, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = re_rng_next(r);
    while (x >= limit);
    return x % n;
}
