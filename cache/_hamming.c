/* Hamming distances between sign codes: the stage-1 passes of cache/semantic_index.py.
 *
 * numpy runs each of XOR, popcount, add and compare as its own pass over a scratch array, and
 * its 64-bit popcount is scalar. These loops fuse them and, on CPUs with AVX-512 VPOPCNTDQ,
 * count 8 words per instruction: the first-word pass over 1M codes then runs at about memory
 * speed (~0.35 ms against ~0.8 in numpy). Loaded with ctypes (cache/hamming.py), which releases
 * the GIL for the call. Built by setuptools as an optional extension: without a C compiler the
 * index keeps its numpy passes.
 *
 * Each kernel is compiled three times (AVX-512, POPCNT, plain) and picked once at run time
 * from the CPU's features, so one build runs on any x86-64 (and, plain, anywhere else).
 */
#include <stddef.h>
#include <stdint.h>

#define BLOCK 2048 /* rows per flag pass in near_first_word: the flags stay in L1 */
/* row_distances asks for the row this many slots ahead: the rows are scattered over the whole
 * table, and a miss is waited for one at a time otherwise. */
#define AHEAD 16

#define KERNELS(SUFFIX, ATTR)                                                                   \
    ATTR static void distances_##SUFFIX(const uint64_t *codes, size_t stride, size_t words,     \
                                        size_t n, const uint64_t *query, uint16_t *out) {       \
        const uint64_t *row = codes;                                                            \
        uint64_t q = query[0];                                                                  \
        for (size_t i = 0; i < n; i++) out[i] = (uint16_t)__builtin_popcountll(row[i] ^ q);     \
        for (size_t w = 1; w < words; w++) {                                                    \
            row = codes + w * stride;                                                           \
            q = query[w];                                                                       \
            for (size_t i = 0; i < n; i++) out[i] += (uint16_t)__builtin_popcountll(row[i] ^ q); \
        }                                                                                       \
    }                                                                                           \
    ATTR static size_t near_first_word_##SUFFIX(const uint64_t *codes, size_t n, uint64_t word, \
                                                unsigned cutoff, const int32_t *parts,          \
                                                int32_t part, int64_t *out) {                   \
        uint8_t near[BLOCK];                                                                    \
        size_t found = 0;                                                                       \
        for (size_t start = 0; start < n; start += BLOCK) {                                     \
            size_t m = n - start < BLOCK ? n - start : BLOCK;                                   \
            const uint64_t *block = codes + start;                                              \
            for (size_t j = 0; j < m; j++)                                                      \
                near[j] = (uint8_t)((unsigned)__builtin_popcountll(block[j] ^ word) <= cutoff); \
            for (size_t j = m; j < BLOCK; j++) near[j] = 0;                                     \
            /* Few rows are near: test the flags eight at a time. */                            \
            for (size_t j = 0; j < m; j += 8) {                                                 \
                uint64_t eight;                                                                 \
                __builtin_memcpy(&eight, near + j, 8);                                          \
                while (eight) {                                                                 \
                    size_t at = start + j + (size_t)__builtin_ctzll(eight) / 8;                 \
                    eight &= eight - 1;                                                         \
                    if (!parts || parts[at] == part) out[found++] = (int64_t)at;                \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        return found;                                                                           \
    }                                                                                           \
    ATTR static void row_distances_##SUFFIX(const uint64_t *rows, size_t words,                 \
                                            const int64_t *slots, size_t m,                     \
                                            const uint64_t *query, uint16_t *out) {             \
        for (size_t k = 0; k < m; k++) {                                                        \
            if (k + AHEAD < m) __builtin_prefetch(rows + (size_t)slots[k + AHEAD] * words);     \
            const uint64_t *row = rows + (size_t)slots[k] * words;                              \
            unsigned d = 0;                                                                     \
            for (size_t w = 0; w < words; w++)                                                  \
                d += (unsigned)__builtin_popcountll(row[w] ^ query[w]);                         \
            out[k] = (uint16_t)d;                                                               \
        }                                                                                       \
    }

#if defined(__x86_64__) || defined(__i386__)
KERNELS(avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512vpopcntdq"))))
KERNELS(popcnt, __attribute__((target("popcnt"))))
#endif
KERNELS(plain, )

/* 2: AVX-512 VPOPCNTDQ, 1: POPCNT, 0: neither. */
int hamming_level(void) {
    static int level = -1;
    if (level < 0) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512bw")
                    ? 2
                : __builtin_cpu_supports("popcnt") ? 1
                                                   : 0;
#else
        level = 0;
#endif
    }
    return level;
}

/* out[i] = Hamming distance between row i and query, rows [0, n) of word-major codes (word w
 * of row i at codes[w * stride + i]). */
void hamming_distances(const uint64_t *codes, size_t stride, size_t words, size_t n,
                       const uint64_t *query, uint16_t *out) {
    switch (hamming_level()) {
#if defined(__x86_64__) || defined(__i386__)
    case 2: distances_avx512(codes, stride, words, n, query, out); return;
    case 1: distances_popcnt(codes, stride, words, n, query, out); return;
#endif
    default: distances_plain(codes, stride, words, n, query, out);
    }
}

/* Writes to out, in increasing order, the rows i < n with popcount(codes[i] ^ word) <= cutoff
 * (and, when parts is not NULL, parts[i] == part); returns how many. out holds n entries. */
size_t hamming_near_first_word(const uint64_t *codes, size_t n, uint64_t word, unsigned cutoff,
                               const int32_t *parts, int32_t part, int64_t *out) {
    switch (hamming_level()) {
#if defined(__x86_64__) || defined(__i386__)
    case 2: return near_first_word_avx512(codes, n, word, cutoff, parts, part, out);
    case 1: return near_first_word_popcnt(codes, n, word, cutoff, parts, part, out);
#endif
    default: return near_first_word_plain(codes, n, word, cutoff, parts, part, out);
    }
}

/* out[k] = Hamming distance between row slots[k] of row-major codes (words per row) and query. */
void hamming_row_distances(const uint64_t *rows, size_t words, const int64_t *slots, size_t m,
                           const uint64_t *query, uint16_t *out) {
    switch (hamming_level()) {
#if defined(__x86_64__) || defined(__i386__)
    case 2: row_distances_avx512(rows, words, slots, m, query, out); return;
    case 1: row_distances_popcnt(rows, words, slots, m, query, out); return;
#endif
    default: row_distances_plain(rows, words, slots, m, query, out);
    }
}
