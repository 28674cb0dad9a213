// Programmatic dependent launch (Hopper and later). A decode step is ~120 small dependent kernels; launched the
// plain way, each one starts only after the previous one has drained and its results are flushed, and then spends
// its first microsecond waiting for its first weight loads. Launched with launchOverlapped(), a kernel's blocks
// may start while the previous kernel is still finishing: they load their weights (which no kernel writes), then
// call waitForPreviousKernel() before they touch anything an earlier kernel wrote, or write anything.
//
// Rules for a kernel launched this way: every block calls waitForPreviousKernel() before it reads the output of
// an earlier kernel and before it writes (so the grid cannot finish before the kernels it depends on, which keeps
// the guarantee transitive for the kernels after it), and it calls letNextKernelStart() once it may be
// overlapped by the next kernel. In code for GPUs before sm_90 both calls compile to nothing, so the attribute is
// set only where kernelSupport() says the running code has them.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernel_support.h"
#include "launch.h"

namespace folio::cuda {

__device__ __forceinline__ void waitForPreviousKernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// The next kernel's blocks may be scheduled once every block of this one has called this (or exited).
__device__ __forceinline__ void letNextKernelStart() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// kernel<<<grid, block, shared_bytes, current stream>>>(args...), allowed to overlap the kernel before it.
template <typename... Params, typename... Args>
void launchOverlapped(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, Args... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = overlappedLaunches() && kernelSupport().overlapped ? 1 : 0;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = at::cuda::getCurrentCUDAStream();
  config.attrs = &attribute;
  config.numAttrs = 1;
  C10_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...));
}

// Whether a tensor's data starts on a 16-byte boundary: the kernels read bf16 data in 16-byte words.
inline bool aligned16(const at::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0; }

}  // namespace folio::cuda
