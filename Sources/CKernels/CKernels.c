// See include/CKernels.h. Only the functions marked AVX2 / AVX512 use those instructions; callers check support first.
#include "CKernels.h"

#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

#define CK_AVX2 __attribute__((target("avx2,fma")))
#define CK_AVX512 __attribute__((target("avx512f")))
#define CK_INLINE static inline __attribute__((always_inline))
// The block loops over CV and P have constant trip counts: unrolled fully, the accumulators live in registers.
#define CK_UNROLL _Pragma("clang loop unroll(full)")

static uint64_t ck_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/// AVX state saved by the OS (OSXSAVE, XCR0 bits 1–2) and the AVX/FMA cpuid bits.
static int ck_has_avx_os(unsigned *ecx1) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    *ecx1 = c;
    if (!(c & (1u << 27)) || !(c & (1u << 28))) return 0;   // OSXSAVE, AVX
    return (ck_xgetbv0() & 0x6) == 0x6;
}

int ck_has_avx2_fma(void) {
    unsigned ecx1 = 0, a, b, c, d;
    if (!ck_has_avx_os(&ecx1) || !(ecx1 & (1u << 12))) return 0;   // FMA
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 5)) != 0;                                     // AVX2
}

int ck_has_f16c(void) {
    unsigned ecx1 = 0;
    return ck_has_avx2_fma() && ck_has_avx_os(&ecx1) && (ecx1 & (1u << 29)) != 0;   // F16C
}

int ck_has_avx512f(void) {
    unsigned ecx1 = 0, a, b, c, d;
    if (!ck_has_avx_os(&ecx1)) return 0;
    if ((ck_xgetbv0() & 0xe6) != 0xe6) return 0;                      // opmask, ZMM state saved by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 16)) != 0;                                    // AVX-512F
}

CK_AVX2 float ck_fma_loop_avx2(int64_t iterations) {
    __m256 acc[12];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (int k = 0; k < 12; k++) acc[k] = _mm256_set1_ps((float)k * 0.01f);
    for (int64_t i = 0; i < iterations; i++) {
        for (int k = 0; k < 12; k++) acc[k] = _mm256_fmadd_ps(acc[k], m, c);
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[5]), "+x"(acc[11]));   // keep the chains as written
    }
    __m256 s = acc[0];
    for (int k = 1; k < 12; k++) s = _mm256_add_ps(s, acc[k]);
    return _mm256_cvtss_f32(s);
}

CK_AVX512 float ck_fma_loop_avx512(int64_t iterations) {
    __m512 acc[24];
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (int k = 0; k < 24; k++) acc[k] = _mm512_set1_ps((float)k * 0.01f);
    for (int64_t i = 0; i < iterations; i++) {
        for (int k = 0; k < 24; k++) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[11]), "+v"(acc[23]));
    }
    __m512 s = acc[0];
    for (int k = 1; k < 24; k++) s = _mm512_add_ps(s, acc[k]);
    return _mm512_reduce_add_ps(s);
}

/// One block of the direct convolution: P output pixels of one row (input pixels 2 apart) × 8·CV output channels.
/// CV·P accumulators stay in registers (CV·P + CV + 1 ≤ 16 ymm): per tap and input channel, CV weight vectors are
/// loaded once and P input values broadcast once each.
CK_INLINE CK_AVX2 void ck_conv_block(const float *in, const int cin, const int rowStride, const float *w,
                                      const int cout, const float *bias, float *out, const int CV, const int P) {
    __m256 acc[2][12];
    CK_UNROLL for (int v = 0; v < CV; v++) {
        const __m256 b = _mm256_loadu_ps(bias + 8 * v);
        CK_UNROLL for (int p = 0; p < P; p++) acc[v][p] = b;
    }
    for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) {
            const float *ip = in + ky * rowStride + kx * cin;
            const float *wp = w + (ky * 3 + kx) * cin * cout;
            for (int ci = 0; ci < cin; ci++) {
                __m256 wv[2];
                CK_UNROLL for (int v = 0; v < CV; v++) wv[v] = _mm256_loadu_ps(wp + ci * cout + 8 * v);
                CK_UNROLL for (int p = 0; p < P; p++) {
                    const __m256 x = _mm256_broadcast_ss(ip + p * 2 * cin + ci);
                    CK_UNROLL for (int v = 0; v < CV; v++) acc[v][p] = _mm256_fmadd_ps(wv[v], x, acc[v][p]);
                }
            }
        }
    }
    const __m256 zero = _mm256_setzero_ps();
    CK_UNROLL for (int p = 0; p < P; p++)
        CK_UNROLL for (int v = 0; v < CV; v++) _mm256_storeu_ps(out + p * cout + 8 * v, _mm256_max_ps(acc[v][p], zero));
}

/// The whole layer for one (cin, CV) pair: groups of 8·CV output channels (a group's weights stay in L1), rows,
/// then blocks of P pixels, the row's tail in blocks of 3 and 1.
CK_INLINE CK_AVX2 void ck_conv_layer(const float *input, const int cin, const int rowStride, const float *weight,
                                      const float *bias, const int cout, const int outH, const int outW,
                                      float *output, const int outRowStride, const int CV, const int P) {
    for (int g = 0; g < cout; g += 8 * CV) {
        for (int oy = 0; oy < outH; oy++) {
            const float *rowIn = input + 2 * oy * rowStride;
            float *rowOut = output + oy * outRowStride + g;
            int ox = 0;
            for (; ox + P <= outW; ox += P)
                ck_conv_block(rowIn + 2 * ox * cin, cin, rowStride, weight + g, cout, bias + g, rowOut + ox * cout, CV, P);
            for (; ox + 3 <= outW; ox += 3)
                ck_conv_block(rowIn + 2 * ox * cin, cin, rowStride, weight + g, cout, bias + g, rowOut + ox * cout, CV, 3);
            for (; ox < outW; ox++)
                ck_conv_block(rowIn + 2 * ox * cin, cin, rowStride, weight + g, cout, bias + g, rowOut + ox * cout, CV, 1);
        }
    }
}

/// Output channels in pairs of vectors where they divide (12 accumulators: 2 × 6 pixels), else one (1 × 12).
CK_INLINE CK_AVX2 void ck_conv_cin(const float *input, const int cin, const int rowStride, const float *weight,
                                    const float *bias, int cout, int outH, int outW, float *output, int outRowStride) {
    if (cout % 16 == 0) ck_conv_layer(input, cin, rowStride, weight, bias, cout, outH, outW, output, outRowStride, 2, 6);
    else ck_conv_layer(input, cin, rowStride, weight, bias, cout, outH, outW, output, outRowStride, 1, 12);
}

CK_AVX2 void ck_conv3x3s2_hwc_relu_avx2(const float *input, int inChannels, int inputRowStride,
                                        const float *weight, const float *bias, int outChannels,
                                        int outHeight, int outWidth, float *output, int outputRowStride) {
    if (outChannels % 8 != 0) abort();
    // The usual channel counts as constants: the pixel offsets become immediates and the channel loop unrolls.
#define CK_CASE(C) case C: ck_conv_cin(input, C, inputRowStride, weight, bias, outChannels, outHeight, outWidth, \
                                       output, outputRowStride); return;
    switch (inChannels) {
        CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(8) CK_CASE(16) CK_CASE(24) CK_CASE(32) CK_CASE(48) CK_CASE(64)
        default: ck_conv_cin(input, inChannels, inputRowStride, weight, bias, outChannels, outHeight, outWidth,
                             output, outputRowStride);
    }
#undef CK_CASE
}

/// One block of the input gradient: P output pixels of one row × 8·CV input channels, tap by tap: the P·CV sums
/// over output channels stay in registers, then are added into the P input pixels the tap reaches (2 apart).
CK_INLINE CK_AVX2 void ck_backward_block(const float *dOut, const int cout, const int chanStride, const int pixelStride,
                                          const float *wT, const int cin, float *dIn, const int rowStride, const int CV,
                                          const int P) {
    for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) {
            __m256 acc[2][12];
            CK_UNROLL for (int v = 0; v < CV; v++) CK_UNROLL for (int p = 0; p < P; p++) acc[v][p] = _mm256_setzero_ps();
            const float *wp = wT + (ky * 3 + kx) * cout * cin;
            for (int co = 0; co < cout; co++) {
                __m256 wv[2];
                CK_UNROLL for (int v = 0; v < CV; v++) wv[v] = _mm256_loadu_ps(wp + co * cin + 8 * v);
                const float *d = dOut + co * chanStride;
                CK_UNROLL for (int p = 0; p < P; p++) {
                    const __m256 x = _mm256_broadcast_ss(d + p * pixelStride);
                    CK_UNROLL for (int v = 0; v < CV; v++) acc[v][p] = _mm256_fmadd_ps(wv[v], x, acc[v][p]);
                }
            }
            float *dst = dIn + ky * rowStride + kx * cin;
            CK_UNROLL for (int p = 0; p < P; p++)
                CK_UNROLL for (int v = 0; v < CV; v++) {
                    float *q = dst + p * 2 * cin + 8 * v;
                    _mm256_storeu_ps(q, _mm256_add_ps(_mm256_loadu_ps(q), acc[v][p]));
                }
        }
    }
}

CK_INLINE CK_AVX2 void ck_backward_layer(const float *dOutput, const int cout, const int chanStride,
                                          const int pixelStride, const int outH, const int outW, const float *wT,
                                          const int cin, float *dIn, const int rowStride, const int CV, const int P) {
    for (int g = 0; g < cin; g += 8 * CV) {
        for (int oy = 0; oy < outH; oy++) {
            const float *rowOut = dOutput + oy * outW * pixelStride;
            float *rowIn = dIn + 2 * oy * rowStride + g;
            int ox = 0;
#define CK_BLOCKS(Q) for (; ox + (Q) <= outW; ox += (Q)) \
    ck_backward_block(rowOut + ox * pixelStride, cout, chanStride, pixelStride, wT + g, cin, rowIn + 2 * ox * cin, \
                      rowStride, CV, Q);
            CK_BLOCKS(P)
            CK_BLOCKS(3)
            CK_BLOCKS(1)
#undef CK_BLOCKS
        }
    }
}

CK_INLINE CK_AVX2 void ck_backward_cin(const float *dOutput, int cout, int chanStride, int pixelStride, int outH,
                                        int outW, const float *wT, const int cin, float *dIn, int rowStride) {
    if (cin % 16 == 0) ck_backward_layer(dOutput, cout, chanStride, pixelStride, outH, outW, wT, cin, dIn, rowStride, 2, 6);
    else ck_backward_layer(dOutput, cout, chanStride, pixelStride, outH, outW, wT, cin, dIn, rowStride, 1, 12);
}

/// The usual pixel strides as constants (1: CHW planes; 8, 16, 32: channels-last): the P broadcast addresses of a
/// block become immediate offsets instead of P live pointers that the register allocator would spill.
CK_INLINE CK_AVX2 void ck_backward_stride(const float *dOutput, int cout, int chanStride, int pixelStride, int outH,
                                           int outW, const float *wT, const int cin, float *dIn, int rowStride) {
#define CK_STRIDE(S) case S: ck_backward_cin(dOutput, cout, chanStride, S, outH, outW, wT, cin, dIn, rowStride); return;
    switch (pixelStride) {
        CK_STRIDE(1) CK_STRIDE(8) CK_STRIDE(16) CK_STRIDE(32)
        default: ck_backward_cin(dOutput, cout, chanStride, pixelStride, outH, outW, wT, cin, dIn, rowStride);
    }
#undef CK_STRIDE
}

CK_AVX2 void ck_conv3x3s2_backward_input_avx2(const float *dOutput, int outChannels, int dOutputChannelStride,
                                              int dOutputPixelStride, int outHeight, int outWidth,
                                              const float *weightT, int inChannels, float *dInputPadded,
                                              int dInputRowStride) {
    if (inChannels % 8 != 0) abort();
#define CK_CASE(C) case C: ck_backward_stride(dOutput, outChannels, dOutputChannelStride, dOutputPixelStride, \
                                              outHeight, outWidth, weightT, C, dInputPadded, dInputRowStride); return;
    switch (inChannels) {
        CK_CASE(8) CK_CASE(16) CK_CASE(32) CK_CASE(64)
        default: ck_backward_stride(dOutput, outChannels, dOutputChannelStride, dOutputPixelStride, outHeight, outWidth,
                                 weightT, inChannels, dInputPadded, dInputRowStride);
    }
#undef CK_CASE
}

/// 3 taps of kernel row ky × R input channels from ci0 × 8·CV output channels from co0, summed over every pixel of
/// every frame, added into dWeight [cout][cin][3][3].
CK_INLINE CK_AVX2 void ck_wg_hwc_block(const float *const *inputs, const int count, const int ps, const int rs,
                                       const float *dOut, const int dps, const int outH, const int outW,
                                       const int ky, const int ci0, const int co0, const int R, const int CV,
                                       float *dWeight, const int cin, const int cout) {
    __m256 acc[3][4][2];
    CK_UNROLL for (int k = 0; k < 3; k++) CK_UNROLL for (int r = 0; r < R; r++) CK_UNROLL for (int v = 0; v < CV; v++)
        acc[k][r][v] = _mm256_setzero_ps();
    const int framePixels = outH * outW;
    for (int j = 0; j < count; j++) {
        const float *x = inputs[j] + ky * rs + ci0;
        const float *d = dOut + (long)j * framePixels * dps + co0;
        for (int oy = 0; oy < outH; oy++) {
            const float *xr = x + 2 * oy * rs;
            const float *dr = d + oy * outW * dps;
            for (int ox = 0; ox < outW; ox++) {
                __m256 dv[2];
                CK_UNROLL for (int v = 0; v < CV; v++) dv[v] = _mm256_loadu_ps(dr + ox * dps + 8 * v);
                const float *xp = xr + 2 * ox * ps;
                CK_UNROLL for (int k = 0; k < 3; k++) CK_UNROLL for (int r = 0; r < R; r++) {
                    const __m256 b = _mm256_broadcast_ss(xp + k * ps + r);
                    CK_UNROLL for (int v = 0; v < CV; v++) acc[k][r][v] = _mm256_fmadd_ps(dv[v], b, acc[k][r][v]);
                }
            }
        }
    }
    float lanes[8];
    CK_UNROLL for (int k = 0; k < 3; k++) CK_UNROLL for (int r = 0; r < R; r++) CK_UNROLL for (int v = 0; v < CV; v++) {
        _mm256_storeu_ps(lanes, acc[k][r][v]);
        for (int e = 0; e < 8; e++) {
            const int co = co0 + 8 * v + e;
            if (co < cout) dWeight[(co * cin + ci0 + r) * 9 + ky * 3 + k] += lanes[e];
        }
    }
}

CK_AVX2 void ck_conv3x3s2_weight_grad_hwc_avx2(const float *const *inputs, int count, int inChannels,
                                               int inPixelStride, int inRowStride, const float *dOutput,
                                               int outChannels, int dOutputPixelStride, int outHeight, int outWidth,
                                               float *dWeight) {
    // 12 accumulators (3 taps × 2 input channels × 16 output channels, or 3 × 4 × 8) plus the loaded gradient and
    // a broadcast fit AVX2's 16 registers; more output channels per pass would spill.
    for (int ky = 0; ky < 3; ky++) {
        for (int co0 = 0; co0 < outChannels; co0 += 16) {
            if (co0 + 8 < outChannels) {
                int ci0 = 0;
                for (; ci0 + 2 <= inChannels; ci0 += 2)
                    ck_wg_hwc_block(inputs, count, inPixelStride, inRowStride, dOutput, dOutputPixelStride, outHeight,
                                    outWidth, ky, ci0, co0, 2, 2, dWeight, inChannels, outChannels);
                for (; ci0 < inChannels; ci0++)
                    ck_wg_hwc_block(inputs, count, inPixelStride, inRowStride, dOutput, dOutputPixelStride, outHeight,
                                    outWidth, ky, ci0, co0, 1, 2, dWeight, inChannels, outChannels);
            } else {
                int ci0 = 0;
                for (; ci0 + 4 <= inChannels; ci0 += 4)
                    ck_wg_hwc_block(inputs, count, inPixelStride, inRowStride, dOutput, dOutputPixelStride, outHeight,
                                    outWidth, ky, ci0, co0, 4, 1, dWeight, inChannels, outChannels);
                const int left = inChannels - ci0;
#define CK_TAIL(R) if (left == R) ck_wg_hwc_block(inputs, count, inPixelStride, inRowStride, dOutput, dOutputPixelStride, \
                                                   outHeight, outWidth, ky, ci0, co0, R, 1, dWeight, inChannels, outChannels);
                CK_TAIL(3) CK_TAIL(2) CK_TAIL(1)
#undef CK_TAIL
            }
        }
    }
}

/// ck_conv_block with 16-lane vectors: CV·P + CV ≤ 32 zmm (the broadcasts go straight into the FMAs).
CK_INLINE CK_AVX512 void ck_conv_block512(const float *in, const int cin, const int rowStride, const float *w,
                                           const int cout, const float *bias, float *out, const int CV, const int P) {
    __m512 acc[2][24];
    CK_UNROLL for (int v = 0; v < CV; v++) {
        const __m512 b = _mm512_loadu_ps(bias + 16 * v);
        CK_UNROLL for (int p = 0; p < P; p++) acc[v][p] = b;
    }
    for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) {
            const float *ip = in + ky * rowStride + kx * cin;
            const float *wp = w + (ky * 3 + kx) * cin * cout;
            for (int ci = 0; ci < cin; ci++) {
                __m512 wv[2];
                CK_UNROLL for (int v = 0; v < CV; v++) wv[v] = _mm512_loadu_ps(wp + ci * cout + 16 * v);
                CK_UNROLL for (int p = 0; p < P; p++) {
                    const __m512 x = _mm512_set1_ps(ip[p * 2 * cin + ci]);
                    CK_UNROLL for (int v = 0; v < CV; v++) acc[v][p] = _mm512_fmadd_ps(wv[v], x, acc[v][p]);
                }
            }
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    CK_UNROLL for (int p = 0; p < P; p++)
        CK_UNROLL for (int v = 0; v < CV; v++) _mm512_storeu_ps(out + p * cout + 16 * v, _mm512_max_ps(acc[v][p], zero));
}

CK_INLINE CK_AVX512 void ck_conv_layer512(const float *input, const int cin, const int rowStride, const float *weight,
                                           const float *bias, const int cout, const int outH, const int outW,
                                           float *output, const int outRowStride, const int CV, const int P) {
    for (int g = 0; g < cout; g += 16 * CV) {
        for (int oy = 0; oy < outH; oy++) {
            const float *rowIn = input + 2 * oy * rowStride;
            float *rowOut = output + oy * outRowStride + g;
            int ox = 0;
#define CK_BLOCKS(Q) for (; ox + (Q) <= outW; ox += (Q)) \
    ck_conv_block512(rowIn + 2 * ox * cin, cin, rowStride, weight + g, cout, bias + g, rowOut + ox * cout, CV, Q);
            CK_BLOCKS(P)
            CK_BLOCKS(6)
            CK_BLOCKS(3)
            CK_BLOCKS(1)
#undef CK_BLOCKS
        }
    }
}

CK_INLINE CK_AVX512 void ck_conv_cin512(const float *input, const int cin, const int rowStride, const float *weight,
                                       const float *bias, int cout, int outH, int outW, float *output, int outRowStride) {
    if (cout % 32 == 0) ck_conv_layer512(input, cin, rowStride, weight, bias, cout, outH, outW, output, outRowStride, 2, 12);
    else ck_conv_layer512(input, cin, rowStride, weight, bias, cout, outH, outW, output, outRowStride, 1, 24);
}

CK_AVX512 void ck_conv3x3s2_hwc_relu_avx512(const float *input, int inChannels, int inputRowStride,
                                          const float *weight, const float *bias, int outChannels,
                                          int outHeight, int outWidth, float *output, int outputRowStride) {
    if (outChannels % 16 != 0) abort();
#define CK_CASE(C) case C: ck_conv_cin512(input, C, inputRowStride, weight, bias, outChannels, outHeight, outWidth, \
                                          output, outputRowStride); return;
    switch (inChannels) {
        CK_CASE(1) CK_CASE(2) CK_CASE(3) CK_CASE(4) CK_CASE(8) CK_CASE(16) CK_CASE(24) CK_CASE(32) CK_CASE(48) CK_CASE(64)
        default: ck_conv_cin512(input, inChannels, inputRowStride, weight, bias, outChannels, outHeight, outWidth,
                                output, outputRowStride);
    }
#undef CK_CASE
}

/// ck_wg_hwc_block with 16-lane vectors: 3 taps × R input channels × 16·CV output channels in 3·R·CV ≤ 24 zmm.
CK_INLINE CK_AVX512 void ck_wg_hwc_block512(const float *const *inputs, const int count, const int ps, const int rs,
                                             const float *dOut, const int dps, const int outH, const int outW,
                                             const int ky, const int ci0, const int co0, const int R, const int CV,
                                             float *dWeight, const int cin, const int cout) {
    __m512 acc[3][8][2];
    CK_UNROLL for (int k = 0; k < 3; k++) CK_UNROLL for (int r = 0; r < R; r++) CK_UNROLL for (int v = 0; v < CV; v++)
        acc[k][r][v] = _mm512_setzero_ps();
    const int framePixels = outH * outW;
    for (int j = 0; j < count; j++) {
        const float *x = inputs[j] + ky * rs + ci0;
        const float *d = dOut + (long)j * framePixels * dps + co0;
        for (int oy = 0; oy < outH; oy++) {
            const float *xr = x + 2 * oy * rs;
            const float *dr = d + oy * outW * dps;
            for (int ox = 0; ox < outW; ox++) {
                __m512 dv[2];
                CK_UNROLL for (int v = 0; v < CV; v++) dv[v] = _mm512_loadu_ps(dr + ox * dps + 16 * v);
                const float *xp = xr + 2 * ox * ps;
                CK_UNROLL for (int k = 0; k < 3; k++) CK_UNROLL for (int r = 0; r < R; r++) {
                    const __m512 b = _mm512_set1_ps(xp[k * ps + r]);
                    CK_UNROLL for (int v = 0; v < CV; v++) acc[k][r][v] = _mm512_fmadd_ps(dv[v], b, acc[k][r][v]);
                }
            }
        }
    }
    float lanes[16];
    CK_UNROLL for (int k = 0; k < 3; k++) CK_UNROLL for (int r = 0; r < R; r++) CK_UNROLL for (int v = 0; v < CV; v++) {
        _mm512_storeu_ps(lanes, acc[k][r][v]);
        for (int e = 0; e < 16; e++) {
            const int co = co0 + 16 * v + e;
            if (co < cout) dWeight[(co * cin + ci0 + r) * 9 + ky * 3 + k] += lanes[e];
        }
    }
}

CK_AVX512 void ck_conv3x3s2_weight_grad_hwc_avx512(const float *const *inputs, int count, int inChannels,
                                                   int inPixelStride, int inRowStride, const float *dOutput,
                                                   int outChannels, int dOutputPixelStride, int outHeight, int outWidth,
                                                   float *dWeight) {
    for (int ky = 0; ky < 3; ky++) {
        for (int co0 = 0; co0 < outChannels; co0 += 32) {
            int ci0 = 0;
#define CK_BLOCKS(R, CV) for (; ci0 + R <= inChannels; ci0 += R) \
    ck_wg_hwc_block512(inputs, count, inPixelStride, inRowStride, dOutput, dOutputPixelStride, outHeight, outWidth, ky, \
                       ci0, co0, R, CV, dWeight, inChannels, outChannels);
            if (co0 + 16 < outChannels) { CK_BLOCKS(4, 2) CK_BLOCKS(2, 2) CK_BLOCKS(1, 2) }
            else { CK_BLOCKS(8, 1) CK_BLOCKS(4, 1) CK_BLOCKS(2, 1) CK_BLOCKS(1, 1) }
#undef CK_BLOCKS
        }
    }
}

#pragma clang fp contract(off)
CK_AVX2 void ck_encoder_input_hwc_avx2(const uint8_t *current, const uint8_t *previous, const uint8_t *beforePrevious,
                                       int height, int width, float gain, int planes, float *padded,
                                       int paddedRowStride) {
    const float scale = 1.0f / 255.0f;
    const __m256 vs = _mm256_set1_ps(scale), vg = _mm256_set1_ps(gain);
    for (int y = 0; y < height; y++) {
        const uint8_t *cr = current + y * width, *pr = previous + y * width, *br = beforePrevious + y * width;
        float *row = padded + (y + 1) * paddedRowStride + planes;
        int x = 0;
        for (; x + 8 <= width; x += 8) {
#define CK_LOAD8(p) _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
            const __m256 xc = _mm256_mul_ps(CK_LOAD8(cr + x), vs), xp = _mm256_mul_ps(CK_LOAD8(pr + x), vs);
            const __m256 d = _mm256_mul_ps(_mm256_sub_ps(xc, xp), vg);
            if (planes == 2) {
                const __m256 lo = _mm256_unpacklo_ps(xc, d), hi = _mm256_unpackhi_ps(xc, d);
                _mm256_storeu_ps(row + 2 * x, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(row + 2 * x + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
            } else {
                const __m256 xb = _mm256_mul_ps(CK_LOAD8(br + x), vs);
                const __m256 d2 = _mm256_mul_ps(_mm256_sub_ps(xp, xb), vg);
                float a[8], b[8], c[8];
                _mm256_storeu_ps(a, xc); _mm256_storeu_ps(b, d); _mm256_storeu_ps(c, d2);
                for (int k = 0; k < 8; k++) {
                    row[3 * (x + k)] = a[k]; row[3 * (x + k) + 1] = b[k]; row[3 * (x + k) + 2] = c[k];
                }
            }
#undef CK_LOAD8
        }
        for (; x < width; x++) {
            const float xc = (float)cr[x] * scale, xp = (float)pr[x] * scale;
            row[planes * x] = xc;
            row[planes * x + 1] = (xc - xp) * gain;
            if (planes == 3) row[3 * x + 2] = (xp - (float)br[x] * scale) * gain;
        }
    }
}
#pragma clang fp contract(on)

/// e^x, Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 in two parts), e^r by a degree-6 polynomial, 2^n through
/// the exponent bits. x is clamped to [−87.3, 88]: e^x stays a normal float (≥ 1.2e-38, ≤ 1.7e38).
CK_INLINE CK_AVX2 __m256 ck_exp_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

CK_INLINE CK_AVX2 __m256 ck_sigmoid_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, ck_exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

CK_INLINE CK_AVX2 __m256 ck_tanh_avx2(__m256 x) {
    const __m256 signBit = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    const __m256 ax = _mm256_andnot_ps(signBit, x);
    const __m256 e = ck_exp_avx2(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    const __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    return _mm256_or_ps(t, _mm256_and_ps(x, signBit));
}

CK_AVX2 void ck_lstm_pointwise_avx2(const float *gates, int hidden, float *c, float *h) {
    const float *gi = gates, *gf = gates + hidden, *gg = gates + 2 * hidden, *go = gates + 3 * hidden;
    int j = 0;
    for (; j + 8 <= hidden; j += 8) {
        const __m256 i = ck_sigmoid_avx2(_mm256_loadu_ps(gi + j)), f = ck_sigmoid_avx2(_mm256_loadu_ps(gf + j));
        const __m256 g = ck_tanh_avx2(_mm256_loadu_ps(gg + j)), o = ck_sigmoid_avx2(_mm256_loadu_ps(go + j));
        const __m256 cNew = _mm256_fmadd_ps(f, _mm256_loadu_ps(c + j), _mm256_mul_ps(i, g));
        _mm256_storeu_ps(c + j, cNew);
        _mm256_storeu_ps(h + j, _mm256_mul_ps(o, ck_tanh_avx2(cNew)));
    }
    for (; j < hidden; j++) {
        const float i = 1 / (1 + expf(-gi[j])), f = 1 / (1 + expf(-gf[j])), g = tanhf(gg[j]), o = 1 / (1 + expf(-go[j]));
        const float cNew = f * c[j] + i * g;
        c[j] = cNew;
        h[j] = o * tanhf(cNew);
    }
}

/// Eight rows at a time: eight dot products of half-precision rows with x, 8 columns per FMA (eight independent
/// chains keep both FMA ports busy), then the horizontal sums of the eight together.
#define CK_F16 __attribute__((target("avx2,fma,f16c")))
CK_F16 void ck_gemv_f16_avx2(int rows, int cols, const uint16_t *weight, const float *x, float *y) {
    const int c8 = cols / 8 * 8;
    int r = 0;
    for (; r + 8 <= rows; r += 8) {
        const uint16_t *w = weight + (int64_t)r * cols;
        __m256 a[8];
        CK_UNROLL for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_ps();
        for (int j = 0; j < c8; j += 8) {
            const __m256 xv = _mm256_loadu_ps(x + j);
            CK_UNROLL for (int k = 0; k < 8; k++)
                a[k] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + k * cols + j))), xv, a[k]);
        }
        // hadd pairs twice: lane i of h0 holds row i's sum over one 128-bit half (rows 0-3 low, 4-7 via h1).
        const __m256 p01 = _mm256_hadd_ps(a[0], a[1]), p23 = _mm256_hadd_ps(a[2], a[3]);
        const __m256 p45 = _mm256_hadd_ps(a[4], a[5]), p67 = _mm256_hadd_ps(a[6], a[7]);
        const __m256 h0 = _mm256_hadd_ps(p01, p23), h1 = _mm256_hadd_ps(p45, p67);
        // Low 128 bits of h0 + its high 128 bits = rows 0-3; the same of h1 = rows 4-7.
        const __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
        float out[8];
        _mm256_storeu_ps(out, sums);
        for (int k = 0; k < 8; k++) {
            float tail = 0;
            for (int j = c8; j < cols; j++) tail += _cvtsh_ss(w[k * cols + j]) * x[j];
            y[r + k] += out[k] + tail;
        }
    }
    for (; r < rows; r++) {
        const uint16_t *w = weight + (int64_t)r * cols;
        float sum = 0;
        for (int j = 0; j < cols; j++) sum += _cvtsh_ss(w[j]) * x[j];
        y[r] += sum;
    }
}

CK_AVX2 void ck_relu_mask_avx2(const float *output, const float *dOutput, float *dst, int count) {
    const __m256 zero = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(output + i), zero, _CMP_GT_OQ);
        _mm256_storeu_ps(dst + i, _mm256_and_ps(keep, _mm256_loadu_ps(dOutput + i)));
    }
    for (; i < count; i++) dst[i] = output[i] > 0 ? dOutput[i] : 0;
}

CK_AVX2 void ck_lstm_cell_train_avx2(float *gates, int hidden, const float *cPrev, float *cNext, float *tanhC,
                                     float *hNext) {
    float *gi = gates, *gf = gates + hidden, *gg = gates + 2 * hidden, *go = gates + 3 * hidden;
    int j = 0;
    for (; j + 8 <= hidden; j += 8) {
        const __m256 i = ck_sigmoid_avx2(_mm256_loadu_ps(gi + j)), f = ck_sigmoid_avx2(_mm256_loadu_ps(gf + j));
        const __m256 g = ck_tanh_avx2(_mm256_loadu_ps(gg + j)), o = ck_sigmoid_avx2(_mm256_loadu_ps(go + j));
        const __m256 c = _mm256_fmadd_ps(f, _mm256_loadu_ps(cPrev + j), _mm256_mul_ps(i, g));
        const __m256 t = ck_tanh_avx2(c);
        _mm256_storeu_ps(gi + j, i); _mm256_storeu_ps(gf + j, f); _mm256_storeu_ps(gg + j, g); _mm256_storeu_ps(go + j, o);
        _mm256_storeu_ps(cNext + j, c); _mm256_storeu_ps(tanhC + j, t); _mm256_storeu_ps(hNext + j, _mm256_mul_ps(o, t));
    }
    for (; j < hidden; j++) {
        const float i = 1 / (1 + expf(-gi[j])), f = 1 / (1 + expf(-gf[j])), g = tanhf(gg[j]), o = 1 / (1 + expf(-go[j]));
        const float c = f * cPrev[j] + i * g, t = tanhf(c);
        gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;
        cNext[j] = c; tanhC[j] = t; hNext[j] = o * t;
    }
}

#else   // not x86: no AVX kernels; callers keep their portable path.
int ck_has_avx2_fma(void) { return 0; }
int ck_has_avx512f(void) { return 0; }
int ck_has_f16c(void) { return 0; }
void ck_gemv_f16_avx2(int rows, int cols, const uint16_t *weight, const float *x, float *y) {
    (void)rows; (void)cols; (void)weight; (void)x; (void)y;
    abort();
}
float ck_fma_loop_avx2(int64_t iterations) { (void)iterations; abort(); }
float ck_fma_loop_avx512(int64_t iterations) { (void)iterations; abort(); }
void ck_conv3x3s2_hwc_relu_avx512(const float *input, int inChannels, int inputRowStride, const float *weight,
                                  const float *bias, int outChannels, int outHeight, int outWidth, float *output,
                                  int outputRowStride) {
    ck_conv3x3s2_hwc_relu_avx2(input, inChannels, inputRowStride, weight, bias, outChannels, outHeight, outWidth,
                               output, outputRowStride);
}
void ck_conv3x3s2_weight_grad_hwc_avx512(const float *const *inputs, int count, int inChannels, int inPixelStride,
                                         int inRowStride, const float *dOutput, int outChannels,
                                         int dOutputPixelStride, int outHeight, int outWidth, float *dWeight) {
    (void)inputs; (void)count; (void)inChannels; (void)inPixelStride; (void)inRowStride; (void)dOutput;
    (void)outChannels; (void)dOutputPixelStride; (void)outHeight; (void)outWidth; (void)dWeight;
    abort();
}
void ck_conv3x3s2_backward_input_avx2(const float *dOutput, int outChannels, int dOutputChannelStride,
                                      int dOutputPixelStride, int outHeight, int outWidth, const float *weightT,
                                      int inChannels, float *dInputPadded, int dInputRowStride) {
    (void)dOutput; (void)outChannels; (void)dOutputChannelStride; (void)dOutputPixelStride; (void)outHeight;
    (void)outWidth; (void)weightT;
    (void)inChannels; (void)dInputPadded; (void)dInputRowStride;
    abort();
}
void ck_encoder_input_hwc_avx2(const uint8_t *current, const uint8_t *previous, const uint8_t *beforePrevious,
                               int height, int width, float gain, int planes, float *padded, int paddedRowStride) {
    (void)current; (void)previous; (void)beforePrevious; (void)height; (void)width; (void)gain; (void)planes;
    (void)padded; (void)paddedRowStride;
    abort();
}
void ck_lstm_pointwise_avx2(const float *gates, int hidden, float *c, float *h) {
    (void)gates; (void)hidden; (void)c; (void)h;
    abort();
}
void ck_relu_mask_avx2(const float *output, const float *dOutput, float *dst, int count) {
    (void)output; (void)dOutput; (void)dst; (void)count;
    abort();
}
void ck_conv3x3s2_weight_grad_hwc_avx2(const float *const *inputs, int count, int inChannels, int inPixelStride,
                                       int inRowStride, const float *dOutput, int outChannels, int dOutputPixelStride,
                                       int outHeight, int outWidth, float *dWeight) {
    (void)inputs; (void)count; (void)inChannels; (void)inPixelStride; (void)inRowStride; (void)dOutput;
    (void)outChannels; (void)dOutputPixelStride; (void)outHeight; (void)outWidth; (void)dWeight;
    abort();
}
void ck_lstm_cell_train_avx2(float *gates, int hidden, const float *cPrev, float *cNext, float *tanhC, float *hNext) {
    (void)gates; (void)hidden; (void)cPrev; (void)cNext; (void)tanhC; (void)hNext;
    abort();
}
void ck_conv3x3s2_hwc_relu_avx2(const float *input, int inChannels, int inputRowStride, const float *weight,
                                const float *bias, int outChannels, int outHeight, int outWidth, float *output,
                                int outputRowStride) {
    (void)input; (void)inChannels; (void)inputRowStride; (void)weight; (void)bias; (void)outChannels;
    (void)outHeight; (void)outWidth; (void)output; (void)outputRowStride;
    abort();
}
#endif

void ck_pack_conv_weight(const float *weight, int outChannels, int inChannels, int packedOut, int packedIn,
                         float *packed) {
    for (int co = 0; co < outChannels; co++)
        for (int ci = 0; ci < inChannels; ci++)
            for (int k = 0; k < 9; k++)
                packed[(k * packedIn + ci) * packedOut + co] = weight[(co * inChannels + ci) * 9 + k];
}

void ck_pack_conv_weight_transposed(const float *weight, int outChannels, int inChannels, int packedIn, float *packed) {
    for (int co = 0; co < outChannels; co++)
        for (int ci = 0; ci < inChannels; ci++)
            for (int k = 0; k < 9; k++)
                packed[(k * outChannels + co) * packedIn + ci] = weight[(co * inChannels + ci) * 9 + k];
}

void ck_chw_to_padded_hwc(const float *planes, int channels, int height, int width,
                          float *padded, int paddedRowStride) {
    for (int y = 0; y < height; y++) {
        float *row = padded + (y + 1) * paddedRowStride + channels;
        for (int c = 0; c < channels; c++) {
            const float *src = planes + (c * height + y) * width;
            for (int x = 0; x < width; x++) row[x * channels + c] = src[x];
        }
    }
}

static void ck_hwc_to_chw_scalar(const float *hwc, int channels, int height, int width, int pixelStride,
                                 int rowStride, float *chw, int x0) {
    for (int y = 0; y < height; y++)
        for (int x = x0; x < width; x++)
            for (int c = 0; c < channels; c++) chw[(c * height + y) * width + x] = hwc[y * rowStride + x * pixelStride + c];
}

#if defined(__x86_64__) || defined(__i386__)
/// 8 pixels × 8 channels at a time through an 8×8 register transpose; the channels past the last multiple of 8 and
/// the pixels past the last multiple of 8 in each row one by one.
CK_AVX2 void ck_hwc_to_chw_avx2(const float *hwc, int channels, int height, int width, int pixelStride,
                                       int rowStride, float *chw) {
    const int c8 = channels / 8 * 8, x8 = width / 8 * 8, plane = height * width;
    for (int y = 0; y < height; y++) {
        const float *row = hwc + y * rowStride;
        for (int x = 0; x < x8; x += 8) {
            for (int c = 0; c < c8; c += 8) {
                __m256 r[8], t[8];
                for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(row + (x + k) * pixelStride + c);
                t[0] = _mm256_unpacklo_ps(r[0], r[1]); t[1] = _mm256_unpackhi_ps(r[0], r[1]);
                t[2] = _mm256_unpacklo_ps(r[2], r[3]); t[3] = _mm256_unpackhi_ps(r[2], r[3]);
                t[4] = _mm256_unpacklo_ps(r[4], r[5]); t[5] = _mm256_unpackhi_ps(r[4], r[5]);
                t[6] = _mm256_unpacklo_ps(r[6], r[7]); t[7] = _mm256_unpackhi_ps(r[6], r[7]);
                r[0] = _mm256_shuffle_ps(t[0], t[2], 0x44); r[1] = _mm256_shuffle_ps(t[0], t[2], 0xEE);
                r[2] = _mm256_shuffle_ps(t[1], t[3], 0x44); r[3] = _mm256_shuffle_ps(t[1], t[3], 0xEE);
                r[4] = _mm256_shuffle_ps(t[4], t[6], 0x44); r[5] = _mm256_shuffle_ps(t[4], t[6], 0xEE);
                r[6] = _mm256_shuffle_ps(t[5], t[7], 0x44); r[7] = _mm256_shuffle_ps(t[5], t[7], 0xEE);
                float *dst = chw + c * plane + y * width + x;
                _mm256_storeu_ps(dst + 0 * plane, _mm256_permute2f128_ps(r[0], r[4], 0x20));
                _mm256_storeu_ps(dst + 1 * plane, _mm256_permute2f128_ps(r[1], r[5], 0x20));
                _mm256_storeu_ps(dst + 2 * plane, _mm256_permute2f128_ps(r[2], r[6], 0x20));
                _mm256_storeu_ps(dst + 3 * plane, _mm256_permute2f128_ps(r[3], r[7], 0x20));
                _mm256_storeu_ps(dst + 4 * plane, _mm256_permute2f128_ps(r[0], r[4], 0x31));
                _mm256_storeu_ps(dst + 5 * plane, _mm256_permute2f128_ps(r[1], r[5], 0x31));
                _mm256_storeu_ps(dst + 6 * plane, _mm256_permute2f128_ps(r[2], r[6], 0x31));
                _mm256_storeu_ps(dst + 7 * plane, _mm256_permute2f128_ps(r[3], r[7], 0x31));
            }
            for (int c = c8; c < channels; c++)
                for (int k = 0; k < 8; k++) chw[c * plane + y * width + x + k] = row[(x + k) * pixelStride + c];
        }
    }
    if (x8 < width) ck_hwc_to_chw_scalar(hwc, channels, height, width, pixelStride, rowStride, chw, x8);
}

#else
void ck_hwc_to_chw_avx2(const float *hwc, int channels, int height, int width, int pixelStride, int rowStride,
                        float *chw) {
    (void)hwc; (void)channels; (void)height; (void)width; (void)pixelStride; (void)rowStride; (void)chw;
    abort();
}
#endif

void ck_hwc_to_chw(const float *hwc, int channels, int height, int width, int pixelStride, int rowStride, float *chw) {
    ck_hwc_to_chw_scalar(hwc, channels, height, width, pixelStride, rowStride, chw, 0);
}
