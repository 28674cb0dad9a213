// Whether Folio's kernels can run on this machine's GPU, decided once at run time: a build carries machine code
// for some architectures (and PTX the driver compiles for newer ones), and the GPU may be older than the kernels
// need (sm_80: bf16 arithmetic) or newer than anything built. Where they cannot run, every caller takes the plain
// libtorch path instead of failing with "no kernel image". Programmatic dependent launch (launch.cuh) needs a
// Hopper or newer GPU running code compiled for sm_90 or newer (older code has no griddepcontrol.wait, so an
// overlapped launch of it would race the kernel before).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace folio::cuda {

struct KernelSupport {
  bool kernels = false;     // Folio's kernels run on the current GPU
  bool overlapped = false;  // and may be launched overlapped (programmatic dependent launch)
  int gpu_arch = 0;         // the GPU's compute capability, e.g. 90
  int code_arch = 0;        // the architecture the loaded kernels were compiled for (PTX version), e.g. 80
  std::string why_not;      // when !kernels: the reason, for the log and the status line
};

// For the current CUDA device; computed on first use. FOLIO_CUDA_KERNELS=0 in the environment turns the kernels
// off (to compare with the libtorch path).
const KernelSupport& kernelSupport();

// Whether t lives on a GPU that runs Folio's kernels.
bool kernelsFor(const at::Tensor& t);

// "Folio kernels · sm_90" or "generic libtorch path (reason)".
std::string kernelPathDescription();

}  // namespace folio::cuda
