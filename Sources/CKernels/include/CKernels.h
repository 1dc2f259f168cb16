// CKernels: the few inner loops ThudModel runs with AVX2 + FMA intrinsics. Each function is compiled for AVX2/FMA
// with a target attribute only (the rest of the program stays baseline x86-64); callers ask ck_has_avx2_fma()
// first and keep their portable path otherwise. Every kernel is checked against a reference (the obvious loop, the
// im2col + sgemm or col2im path, libm) in Tests/ThudModelTests (DirectConvTests, KernelsTests) and
// Tests/ThudTrainTests (ConvChunkTests), and through the PyTorch fixtures and the finite-difference tests.
#ifndef THUD_CKERNELS_H
#define THUD_CKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the CPU and OS support AVX2 and FMA (cpuid + xgetbv), else 0. On a non-x86 build always 0.
int ck_has_avx2_fma(void);
/// 1 when ck_has_avx2_fma() and the CPU converts half precision (F16C), else 0.
int ck_has_f16c(void);
/// y[r] += Σ_j weight[r·cols + j] · x[j] for r < rows, the weights IEEE half precision (uint16 bit patterns),
/// converted to float on the fly, products and sums in float32 (8 columns per FMA lane, then a horizontal sum per
/// row). Requires ck_has_f16c().
void ck_gemv_f16_avx2(int rows, int cols, const uint16_t *weight, const float *x, float *y);
/// 1 when the CPU and OS support AVX-512F (used only by the peak-FLOPs probe), else 0.
int ck_has_avx512f(void);

/// Peak probe: `iterations` rounds of 12 independent 8-lane FMA chains (AVX2) — 192 FLOP per round. Returns a value
/// derived from the accumulators so the loop cannot be dropped. Requires ck_has_avx2_fma().
float ck_fma_loop_avx2(int64_t iterations);
/// The same with 24 independent 16-lane chains (AVX-512F) — 768 FLOP per round. Requires ck_has_avx512f().
float ck_fma_loop_avx512(int64_t iterations);

/// 3×3 convolution, stride 2, padding 1, + bias + ReLU, directly (no im2col), channels-last ("HWC").
/// `input` points at the top-left corner of a zero-padded input of (height + 2) rows, each `inputRowStride` floats
/// apart, each pixel `inChannels` floats (pixel (y, x) of the unpadded input at input[(y + 1)·inputRowStride +
/// (x + 1)·inChannels]; the border must hold zeros). `weight` is packed [ky][kx][inChannels][outChannels]
/// (ck_pack_conv_weight), `outChannels` a multiple of 8. Output pixel (oy, ox) goes to
/// output[oy·outputRowStride + ox·outChannels + co], for oy < outHeight, ox < outWidth. Requires ck_has_avx2_fma().
void ck_conv3x3s2_hwc_relu_avx2(const float *input, int inChannels, int inputRowStride,
                                const float *weight, const float *bias, int outChannels,
                                int outHeight, int outWidth, float *output, int outputRowStride);

/// The LSTM cell after the gate product, 8 units at a time: gates = [i | f | g | o] pre-activations (PyTorch's
/// order), each `hidden` long; c ← σ(f)·c + σ(i)·tanh(g) in place, h = σ(o)·tanh(c). exp is Cephes' single-precision
/// polynomial (about 1 ulp), σ(x) = 1 / (1 + e^−x), tanh(x) = sign(x)·(1 − e^−2|x|) / (1 + e^−2|x|) (absolute error
/// about 1e-7); the units past the last multiple of 8 take libm's expf and tanhf. Requires ck_has_avx2_fma().
void ck_lstm_pointwise_avx2(const float *gates, int hidden, float *c, float *h);

/// ck_conv3x3s2_hwc_relu_avx2 with 16-lane vectors (AVX-512F): 24 accumulators of 16 or 32 output channels × 24 or
/// 12 pixels, the input values broadcast inside the FMAs. `outChannels` a multiple of 16. Requires ck_has_avx512f().
void ck_conv3x3s2_hwc_relu_avx512(const float *input, int inChannels, int inputRowStride,
                                  const float *weight, const float *bias, int outChannels,
                                  int outHeight, int outWidth, float *output, int outputRowStride);

/// The conv encoder's input planes straight from gray8 frames into the interior of a padded HWC buffer of `planes`
/// (2 or 3) channels: [x/255, (x − previous)/255 × gain] and with 3 (previous − beforePrevious)/255 × gain: the
/// same float operations, in the same order, as ThudModel's Kernels.encoderInputPlanes (no FMA contraction), so
/// the values are equal to the bit. Requires ck_has_avx2_fma().
void ck_encoder_input_hwc_avx2(const uint8_t *current, const uint8_t *previous, const uint8_t *beforePrevious,
                               int height, int width, float gain, int planes, float *padded, int paddedRowStride);

/// The input gradient of ck_conv3x3s2_hwc_relu_avx2 (a transposed convolution), directly — no Wᵀ·dY sgemm and
/// col2im: dInput[2·oy + ky][2·ox + kx][ci] += Σ_co weightT[ky][kx][co][ci] · dOutput(co, oy, ox) for every output
/// pixel and tap. dOutput(co, oy, ox) is dOutput[co·dOutputChannelStride + (oy·outWidth + ox)·dOutputPixelStride]
/// (the ReLU mask already applied): CHW planes with pixel stride 1, or channels-last with channel stride 1 and pixel
/// stride ≥ outChannels; `outChannels` channels are read. `weightT` is packed [ky][kx][outChannels][inChannels]
/// (ck_pack_conv_weight_transposed), `inChannels` a multiple of 8. `dInputPadded` is the top-left corner of a padded
/// HWC buffer laid out as the forward kernel's input (rows `dInputRowStride` apart, pixels `inChannels`), which the
/// caller zeroes first; its border receives the padding taps' terms, to be ignored. Requires ck_has_avx2_fma().
void ck_conv3x3s2_backward_input_avx2(const float *dOutput, int outChannels, int dOutputChannelStride,
                                      int dOutputPixelStride, int outHeight, int outWidth, const float *weightT,
                                      int inChannels, float *dInputPadded, int dInputRowStride);
/// The weight gradient of a 3×3 stride-2 conv (padding 1) over `count` frames, directly and channels-last, without
/// im2col and sgemm: dWeight[co][ci][ky][kx] += Σ_frames Σ_{oy,ox} dOutput[frame][oy][ox][co] · input[frame][2·oy + ky]
/// [2·ox + kx][ci] in padded coordinates. inputs[j] is the top-left corner of frame j's zero-padded HWC input, laid out
/// as the forward kernel reads it (pixels `inPixelStride` ≥ inChannels floats apart, rows `inRowStride`); `dOutput`
/// holds the frames' output gradients one after another, each [outHeight][outWidth] pixels of `dOutputPixelStride`
/// floats (a multiple of 8, ≥ outChannels; the ReLU mask applied); `dWeight` is PyTorch's [outChannels][inChannels]
/// [3][3]. Each pass over the pixels sums a kernel row's 3 taps × 4 input channels × 8 output channels (or 2 × 16)
/// in 12 registers: the output gradient is loaded once per pixel and the inputs broadcast, no horizontal sums until
/// the frames are done. Requires ck_has_avx2_fma().
void ck_conv3x3s2_weight_grad_hwc_avx2(const float *const *inputs, int count, int inChannels, int inPixelStride,
                                       int inRowStride, const float *dOutput, int outChannels, int dOutputPixelStride,
                                       int outHeight, int outWidth, float *dWeight);
/// ck_conv3x3s2_weight_grad_hwc_avx2 with 16-lane vectors (AVX-512F): 3 taps × 4 input channels × 32 output channels
/// (or 8 × 16) in 24 zmm; each weight's sum is the same FMAs in the same order, so the result is the AVX2 kernel's to
/// the bit. `dOutputPixelStride` a multiple of 16. Requires ck_has_avx512f().
void ck_conv3x3s2_weight_grad_hwc_avx512(const float *const *inputs, int count, int inChannels, int inPixelStride,
                                         int inRowStride, const float *dOutput, int outChannels,
                                         int dOutputPixelStride, int outHeight, int outWidth, float *dWeight);
/// PyTorch's conv weight [outChannels][inChannels][3][3] → [ky][kx][outChannels][packedIn] (packedIn ≥
/// inChannels; the extra entries are left as they are). Portable C.
void ck_pack_conv_weight_transposed(const float *weight, int outChannels, int inChannels, int packedIn, float *packed);

/// ck_lstm_pointwise_avx2 as training runs it, keeping what backward needs: `gates` (i, f, g, o pre-activations) are
/// replaced by the activations σ(i), σ(f), tanh(g), σ(o); cNext = σ(f)·cPrev + σ(i)·tanh(g), tanhC = tanh(cNext),
/// hNext = σ(o)·tanhC. Same functions and tail as ck_lstm_pointwise_avx2. Requires ck_has_avx2_fma().
void ck_lstm_cell_train_avx2(float *gates, int hidden, const float *cPrev, float *cNext, float *tanhC, float *hNext);

/// The ReLU's backward mask: dst[i] = output[i] > 0 ? dOutput[i] : 0 (0 where output is NaN), 8 at a time.
/// Requires ck_has_avx2_fma().
void ck_relu_mask_avx2(const float *output, const float *dOutput, float *dst, int count);

/// PyTorch's conv weight [outChannels][inChannels][3][3] → [ky][kx][packedIn][packedOut] (packedIn ≥ inChannels,
/// packedOut ≥ outChannels; the extra entries are left as they are: the caller zeroes them). Portable C.
void ck_pack_conv_weight(const float *weight, int outChannels, int inChannels, int packedOut, int packedIn,
                         float *packed);

/// CHW planes [channels][height][width] → the interior of a padded HWC buffer laid out as described for
/// ck_conv3x3s2_hwc_relu_avx2 (`padded` is its top-left corner; the border is left as it is). Portable C.
void ck_chw_to_padded_hwc(const float *planes, int channels, int height, int width,
                          float *padded, int paddedRowStride);

/// HWC, pixels `pixelStride` (≥ channels) floats apart and rows `rowStride`, → CHW [channels][height][width] (the
/// first `channels` of each pixel). Portable C.
void ck_hwc_to_chw(const float *hwc, int channels, int height, int width, int pixelStride, int rowStride, float *chw);
/// The same through 8×8 register transposes (AVX2). Requires ck_has_avx2_fma().
void ck_hwc_to_chw_avx2(const float *hwc, int channels, int height, int width, int pixelStride, int rowStride,
                        float *chw);

#ifdef __cplusplus
}
#endif
#endif
