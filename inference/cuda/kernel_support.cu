#include "kernel_support.h"

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

namespace folio::cuda {
namespace {

// Never launched: its attributes say whether this build has code the GPU can run, and for which architecture.
__global__ void probeKernel() {}

constexpr int kMinimumArch = 80;  // bf16 arithmetic and the 16-byte loads the kernels are written around

bool disabledByEnvironment() {
  const char* value = std::getenv("FOLIO_CUDA_KERNELS");
  return value && (std::strcmp(value, "0") == 0 || std::strcmp(value, "off") == 0);
}

KernelSupport probe() {
  KernelSupport support;
  int device = 0, major = 0, minor = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    cudaGetLastError();
    support.why_not = "no CUDA device";
    return support;
  }
  support.gpu_arch = major * 10 + minor;
  cudaFuncAttributes attributes{};
  const auto status = cudaFuncGetAttributes(&attributes, probeKernel);
  cudaGetLastError();  // a missing kernel image must not linger as the sticky "last error" for libtorch
  if (status != cudaSuccess) {
    support.why_not = "this build has no kernels for sm_" + std::to_string(support.gpu_arch) + " (" +
                      cudaGetErrorString(status) + "); rebuild with FOLIO_CUDA_ARCHS including " +
                      std::to_string(support.gpu_arch);
    return support;
  }
  support.code_arch = attributes.ptxVersion;
  if (support.gpu_arch < kMinimumArch) {
    support.why_not = "Folio's kernels need sm_80 or newer; this GPU is sm_" + std::to_string(support.gpu_arch);
    return support;
  }
  if (disabledByEnvironment()) {
    support.why_not = "FOLIO_CUDA_KERNELS=0";
    return support;
  }
  support.kernels = true;
  support.overlapped = support.gpu_arch >= 90 && support.code_arch >= 90;
  return support;
}

}  // namespace

const KernelSupport& kernelSupport() {
  static const KernelSupport support = [] {
    auto s = probe();
    if (!s.kernels) std::cerr << "folio: CUDA runs the generic libtorch path: " << s.why_not << "\n";
    return s;
  }();
  return support;
}

bool kernelsFor(const at::Tensor& t) { return t.is_cuda() && kernelSupport().kernels; }

std::string kernelPathDescription() {
  const auto& s = kernelSupport();
  if (!s.kernels) return "generic libtorch path (" + s.why_not + ")";
  std::string text = "Folio kernels · sm_" + std::to_string(s.gpu_arch);
  if (s.code_arch != s.gpu_arch) text += " (compiled from compute_" + std::to_string(s.code_arch) + " PTX)";
  return text;
}

}  // namespace folio::cuda
