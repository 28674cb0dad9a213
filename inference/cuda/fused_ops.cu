#include "fused_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <cuda_bf16.h>

#include "warp_math.cuh"

namespace folio::cuda {
namespace {

constexpr int kThreads = 256;

__device__ float blockSum(float value) {
  __shared__ float partial[kThreads / kWarpSize];
  value = warpSum(value);
  if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = value;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kThreads / kWarpSize; ++w) total += partial[w];
  return total;
}

__device__ float toFloat(float v) { return v; }
__device__ float toFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ void store(float* to, float v) { *to = v; }
__device__ void store(__nv_bfloat16* to, float v) { *to = __float2bfloat16(v); }

// One block per row. Each thread re-reads only the elements it wrote itself, so x can be updated in place.
template <typename X, typename Delta>
__global__ void addRmsNormKernel(X* __restrict__ x, const Delta* __restrict__ delta,
                                 const __nv_bfloat16* __restrict__ weight, __nv_bfloat16* __restrict__ out, int hidden,
                                 float eps) {
  const long long offset = static_cast<long long>(blockIdx.x) * hidden;
  X* row = x + offset;
  float squares = 0.f;
  for (int i = threadIdx.x; i < hidden; i += kThreads) {
    float v = toFloat(row[i]);
    if (delta != nullptr) {
      v += toFloat(delta[offset + i]);
      store(row + i, v);
    }
    squares += v * v;
  }
  const float scale = rsqrtf(blockSum(squares) / hidden + eps);
  for (int i = threadIdx.x; i < hidden; i += kThreads)
    out[offset + i] = __float2bfloat16(__bfloat162float(weight[i]) * toFloat(row[i]) * scale);
}

template <typename X, typename Delta>
void launchAddRmsNorm(at::Tensor& x, const Delta* delta, const at::Tensor& weight, at::Tensor& out, double eps) {
  addRmsNormKernel<<<x.size(0), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<X*>(x.data_ptr()), delta, reinterpret_cast<const __nv_bfloat16*>(weight.data_ptr()),
      reinterpret_cast<__nv_bfloat16*>(out.data_ptr()), static_cast<int>(x.size(1)), static_cast<float>(eps));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// blockIdx.x: row, blockIdx.y: head; one thread per element of the head. Every element of q's head is read
// before any is overwritten.
__global__ void ropeAndAppendKvKernel(__nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                                      const __nv_bfloat16* __restrict__ v, long long q_stride, long long k_stride,
                                      long long v_stride, const float* __restrict__ cos, const float* __restrict__ sin,
                                      const long long* __restrict__ position, __nv_bfloat16* __restrict__ keys,
                                      __nv_bfloat16* __restrict__ values, int capacity) {
  const int row = blockIdx.x, head = blockIdx.y, heads = gridDim.y, d = threadIdx.x, head_dim = blockDim.x;
  const int half = head_dim / 2;
  const int partner = d < half ? d + half : d - half;
  const float sign = d < half ? -1.f : 1.f;
  const long long at = position[row];
  const float c = cos[at * head_dim + d], s = sin[at * head_dim + d];
  auto* q_head = q + row * q_stride + head * head_dim;
  const auto* k_head = k + row * k_stride + head * head_dim;
  const float q_value = __bfloat162float(q_head[d]), q_rotated = sign * __bfloat162float(q_head[partner]);
  const float k_value = __bfloat162float(k_head[d]), k_rotated = sign * __bfloat162float(k_head[partner]);
  const long long cached = ((static_cast<long long>(row) * heads + head) * capacity + at) * head_dim + d;
  keys[cached] = __float2bfloat16(k_value * c + k_rotated * s);
  values[cached] = v[row * v_stride + head * head_dim + d];
  __syncthreads();
  q_head[d] = __float2bfloat16(q_value * c + q_rotated * s);
}

}  // namespace

at::Tensor addRmsNorm(at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight, double eps) {
  const bool float_x = x.scalar_type() == at::kFloat;
  TORCH_CHECK(x.is_cuda() && x.dim() == 2 && x.is_contiguous() && (float_x || x.scalar_type() == at::kBFloat16),
              "addRmsNorm: x must be contiguous float32 or bf16 [rows, H] on the GPU");
  TORCH_CHECK(weight.scalar_type() == at::kBFloat16 && weight.numel() == x.size(1), "addRmsNorm: weight must be bf16 [H]");
  auto out = at::empty(x.sizes(), x.options().dtype(at::kBFloat16));
  if (!delta.defined()) {
    if (float_x)
      launchAddRmsNorm<float>(x, static_cast<const float*>(nullptr), weight, out, eps);
    else
      launchAddRmsNorm<__nv_bfloat16>(x, static_cast<const float*>(nullptr), weight, out, eps);
    return out;
  }
  TORCH_CHECK(float_x, "addRmsNorm: a residual step needs the float32 stream");
  TORCH_CHECK(delta.sizes() == x.sizes() && delta.is_contiguous() && delta.device() == x.device(),
              "addRmsNorm: delta must be contiguous and shaped like x");
  if (delta.scalar_type() == at::kFloat)
    launchAddRmsNorm<float>(x, delta.data_ptr<float>(), weight, out, eps);
  else if (delta.scalar_type() == at::kBFloat16)
    launchAddRmsNorm<float>(x, reinterpret_cast<const __nv_bfloat16*>(delta.data_ptr()), weight, out, eps);
  else
    TORCH_CHECK(false, "addRmsNorm: delta must be float32 or bf16");
  return out;
}

void ropeAndAppendKv(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                     const at::Tensor& sin, const at::Tensor& position, at::Tensor& keys, at::Tensor& values) {
  TORCH_CHECK(keys.dim() == 4 && keys.is_contiguous() && values.is_contiguous() && keys.sizes() == values.sizes() &&
                  keys.scalar_type() == at::kBFloat16 && values.scalar_type() == at::kBFloat16,
              "ropeAndAppendKv: the cache must be contiguous bf16 [rows, heads, capacity, D]");
  const auto rows = keys.size(0), heads = keys.size(1), capacity = keys.size(2), head_dim = keys.size(3);
  for (const auto* t : {&q, &k, &v})
    TORCH_CHECK(t->scalar_type() == at::kBFloat16 && t->dim() == 2 && t->size(0) == rows &&
                    t->size(1) == heads * head_dim && t->stride(1) == 1,
                "ropeAndAppendKv: q, k and v must be bf16 [rows, heads * D] with unit column stride");
  TORCH_CHECK(head_dim % 2 == 0 && head_dim <= 1024 && cos.size(-1) == head_dim && sin.size(-1) == head_dim &&
                  cos.scalar_type() == at::kFloat && sin.scalar_type() == at::kFloat && cos.is_contiguous() &&
                  sin.is_contiguous(),
              "ropeAndAppendKv: float32 cos/sin tables [positions, D], D even and <= 1024");
  TORCH_CHECK(position.scalar_type() == at::kLong && position.numel() == rows && position.is_contiguous(),
              "ropeAndAppendKv: one int64 position per row");
  ropeAndAppendKvKernel<<<dim3(rows, heads), head_dim, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<__nv_bfloat16*>(q.data_ptr()), reinterpret_cast<const __nv_bfloat16*>(k.data_ptr()),
      reinterpret_cast<const __nv_bfloat16*>(v.data_ptr()), q.stride(0), k.stride(0), v.stride(0),
      cos.data_ptr<float>(), sin.data_ptr<float>(), reinterpret_cast<const long long*>(position.data_ptr<int64_t>()),
      reinterpret_cast<__nv_bfloat16*>(keys.data_ptr()), reinterpret_cast<__nv_bfloat16*>(values.data_ptr()),
      static_cast<int>(capacity));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace folio::cuda
