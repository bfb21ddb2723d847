// The per-element math of every layer (MODEL-SPEC), in one header compiled by g++ for the CPU backend and by
// nvcc for the CUDA kernels. Functions here are pure, scalar and allocation-free; loops over vectors live in
// kernels/cpu (and kernels/cuda), so the two backends differ only in how they iterate.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define TICKRT_HD __host__ __device__ __forceinline__
#else
#define TICKRT_HD inline
#endif

namespace tickrt::math {

// ---- common activations (MODEL-SPEC notation) ---------------------------------------------------------
TICKRT_HD float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
TICKRT_HD float silu(float x) { return x / (1.0f + expf(-x)); }
// PyTorch's softplus with threshold 20: x above it is returned as is.
TICKRT_HD float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
// 1 / sqrt(mean_sq + eps): the RMSNorm scale, given the mean of squares.
TICKRT_HD float rms_scale(float mean_sq, float eps) { return 1.0f / sqrtf(mean_sq + eps); }

// ---- mamba (MODEL-SPEC §4) ----------------------------------------------------------------------------

// ---- attention (MODEL-SPEC §5) ------------------------------------------------------------------------

// ---- ffn / moe (MODEL-SPEC §3) ------------------------------------------------------------------------

// ---- megalodon (MODEL-SPEC §6) ------------------------------------------------------------------------

}  // namespace tickrt::math
