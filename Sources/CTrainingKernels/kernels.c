#include "CTrainingKernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

// One definition per instruction set, chosen by the loader on first call. By feature, not by
// CPU name: "arch=skylake-avx512" dispatches on __builtin_cpu_is, which no later or AMD CPU
// passes, so this machine (Emerald Rapids) ran the baseline SSE2 versions — where rintf is a
// libm call and fast_exp cannot vectorise (GELU was 13% of a training step's time).
//
// Under ThreadSanitizer (scripts/sanitize) there is one baseline version: the loader runs the
// clones' resolvers before the sanitizer's runtime exists, and their instrumented entry crashes.
#if defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define QUARRY_NO_CLONES 1
#  endif
#endif
#if defined(QUARRY_NO_CLONES)
#  define VERSIONS
#else
#  define VERSIONS __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

const char *quarry_kernels_variant(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
    return "baseline x86-64";
}

/// Cephes' single-precision exp: x = n·ln2 + r, a degree-6 polynomial on |r| ≤ ln2/2, scaled by
/// 2^n through the exponent bits. Within 2 ulp of expf on [-87, 88]; inputs are clamped there
/// (softmax and tanh arguments never need more). Branch-free, so loops over it vectorise.
static inline float fast_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union { uint32_t u; float f; } scale;
    scale.u = (uint32_t)((int32_t)n + 127) << 23;
    return p * scale.f;
}

/// tanh(x) = 1 − 2/(e^{2x} + 1); |x| > 9 is ±1 to float precision.
static inline float fast_tanh(float x) {
    x = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);
    return 1.0f - 2.0f / (fast_exp(2.0f * x) + 1.0f);
}

#define LANES 16

#define GELU_SCALE 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_CUBE 0.044715f

VERSIONS void quarry_gelu_forward(float *restrict out, const float *restrict in, long n) {
    for (long i = 0; i < n; i++) {
        float x = in[i];
        out[i] = 0.5f * x * (1.0f + fast_tanh(GELU_SCALE * (x + GELU_CUBE * x * x * x)));
    }
}

VERSIONS void quarry_gelu_backward(float *restrict dinp, const float *restrict inp, const float *restrict dout, long n) {
    for (long i = 0; i < n; i++) {
        float x = inp[i];
        float th = fast_tanh(GELU_SCALE * (x + GELU_CUBE * x * x * x));
        float sech2 = 1.0f - th * th;
        float local = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * GELU_CUBE * x * x);
        dinp[i] += local * dout[i];
    }
}

VERSIONS void quarry_softmax_cross_entropy(float *probs, float *losses, const float *logits, const int *targets,
                                           long rows, long vocab) {
    for (long row = 0; row < rows; row++) {
        const float *l = logits + row * vocab;
        float *p = probs + row * vocab;
        int target = targets[row];
        if (target < 0) {
            memset(p, 0, (size_t)vocab * sizeof(float));
            losses[row] = 0.0f;
            continue;
        }
        // Sixteen running maxima and sums, so the reductions vectorise without reassociating
        // floating-point additions behind the compiler's back (no -ffast-math).
        float lanes[LANES];
        for (int k = 0; k < LANES; k++) lanes[k] = -INFINITY;
        long j = 0;
        for (; j + LANES <= vocab; j += LANES)
            for (int k = 0; k < LANES; k++) lanes[k] = l[j + k] > lanes[k] ? l[j + k] : lanes[k];
        float maxv = -INFINITY;
        for (int k = 0; k < LANES; k++) maxv = lanes[k] > maxv ? lanes[k] : maxv;
        for (; j < vocab; j++) maxv = l[j] > maxv ? l[j] : maxv;
        float target_logit = l[target];   // probs may be the logits' own memory
        for (j = 0; j < vocab; j++) p[j] = fast_exp(l[j] - maxv);
        for (int k = 0; k < LANES; k++) lanes[k] = 0.0f;
        for (j = 0; j + LANES <= vocab; j += LANES)
            for (int k = 0; k < LANES; k++) lanes[k] += p[j + k];
        float sum = 0.0f;
        for (int k = 0; k < LANES; k++) sum += lanes[k];
        for (; j < vocab; j++) sum += p[j];
        float inverse = 1.0f / sum;
        for (long j = 0; j < vocab; j++) p[j] *= inverse;
        // log p[target] from the logits, not the rounded probability: exact for tiny ones too.
        losses[row] = -(target_logit - maxv - logf(sum));
    }
}

VERSIONS void quarry_causal_softmax(float *w, long n, float scale) {
    for (long t = 0; t < n; t++) {
        float *row = w + t * n;
        long count = t + 1;
        float maxv = -INFINITY;
        for (long j = 0; j < count; j++) {
            row[j] *= scale;
            maxv = row[j] > maxv ? row[j] : maxv;
        }
        for (long j = 0; j < count; j++) row[j] = fast_exp(row[j] - maxv);
        float lanes[LANES] = {0};
        long j = 0;
        for (; j + LANES <= count; j += LANES)
            for (int k = 0; k < LANES; k++) lanes[k] += row[j + k];
        float sum = 0.0f;
        for (int k = 0; k < LANES; k++) sum += lanes[k];
        for (; j < count; j++) sum += row[j];
        float inverse = 1.0f / sum;
        for (j = 0; j < count; j++) row[j] *= inverse;
        for (j = count; j < n; j++) row[j] = 0.0f;
    }
}

VERSIONS void quarry_exp(float *restrict out, const float *restrict in, long n) {
    for (long i = 0; i < n; i++) out[i] = fast_exp(in[i]);
}
