# Provides the target folio::torch from the torch wheel unpacked in FOLIO_TORCH_DIR (scripts/deps.sh installs one).
# FOLIO_CUDA=OFF: libtorch_cpu and c10 only, so no GPU libraries are needed.
# FOLIO_CUDA=ON: also libtorch_cuda and c10_cuda, and the CUDA language for Folio's kernels, built for
# FOLIO_CUDA_ARCHS. The CUDA libraries libtorch_cuda needs sit beside torch (site-packages/nvidia/...), where the
# wheel's own RPATH finds them; our binaries get an RPATH to torch/lib and nvidia/cu13/lib for libcudart.
# Without FOLIO_CUDA but with a CUDA compiler present, Folio's CUDA sources are still compiled (not linked) for
# FOLIO_CUDA_CHECK_ARCHS, so that a CUDA compile error fails every build that can see it (CI does).
if(NOT FOLIO_TORCH_DIR)
  message(FATAL_ERROR "Set FOLIO_TORCH_DIR to the torch package folder (scripts/deps.sh installs one)")
endif()
set(_lib "${FOLIO_TORCH_DIR}/lib")
# The order and the definitions are those of libtorch's own CMake package (TorchConfig.cmake): the CUDA build's
# static destructors at exit depend on them.
set(_names torch_cpu c10)
if(FOLIO_CUDA)
  set(_names c10 c10_cuda torch_cpu torch_cuda torch)
endif()
add_library(folio_torch INTERFACE)
target_include_directories(folio_torch SYSTEM INTERFACE
  "${FOLIO_TORCH_DIR}/include" "${FOLIO_TORCH_DIR}/include/torch/csrc/api/include")
set(_libraries "")
foreach(_name ${_names})
  if(NOT EXISTS "${_lib}/lib${_name}.so")
    message(FATAL_ERROR "libtorch not found: ${_lib}/lib${_name}.so is missing")
  endif()
  list(APPEND _libraries "${_lib}/lib${_name}.so")
endforeach()
# Linked even where no symbol is used directly: libtorch_cuda registers the CUDA backend when it loads.
target_link_libraries(folio_torch INTERFACE "-Wl,--no-as-needed" ${_libraries} "-Wl,--as-needed")
target_compile_definitions(folio_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
get_filename_component(_site "${FOLIO_TORCH_DIR}" DIRECTORY)
set(_wheel_cuda "${_site}/nvidia/cu13")

# The release list: Ampere, Ada, Hopper, Blackwell, plus PTX for newer GPUs (scripts/deps.sh picks the GPU's own).
set(FOLIO_CUDA_ARCHS "80-real;86-real;89-real;90-real;100-real;120-real;120-virtual" CACHE STRING
    "CUDA architectures for Folio's kernels (CMake syntax)")
# The compile check builds for the oldest architecture the kernels support, where a newer intrinsic would fail;
# the kernels' only arch branch (sm_90 and up, launch.cuh) is compiled by every H200 build (scripts/gpu-check.sh).
# Each architecture costs CI about 2 CPU minutes; the release list's seven would cost about 9.
set(FOLIO_CUDA_CHECK_ARCHS "80-real" CACHE STRING "CUDA architectures the CPU build's CUDA compile check uses")
if(NOT FOLIO_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
endif()
if(FOLIO_CUDA OR CMAKE_CUDA_COMPILER)
  set(CMAKE_CUDA_ARCHITECTURES "${FOLIO_CUDA_ARCHS}")
  # One CUDA runtime in the process, the shared one libtorch loads: a static copy in our binaries would register
  # our kernels with a runtime of its own (and crash in its teardown at exit).
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # ATen's CUDA headers include cuBLAS/cuSPARSE headers: from the toolkit, else from PyPI's packages beside torch.
  if(EXISTS "${_wheel_cuda}/include")
    set(FOLIO_CUDA_EXTRA_INCLUDES "${_wheel_cuda}/include")
  endif()
endif()

if(FOLIO_CUDA)
  target_compile_definitions(folio_torch INTERFACE FOLIO_HAVE_CUDA=1
    USE_C10D_GLOO USE_C10D_NCCL USE_DISTRIBUTED USE_NVSHMEM USE_RPC USE_TENSORPIPE)
  target_link_libraries(folio_torch INTERFACE CUDA::cudart)
  target_include_directories(folio_torch SYSTEM INTERFACE ${CUDAToolkit_INCLUDE_DIRS} ${FOLIO_CUDA_EXTRA_INCLUDES})
  set(_rpath_dirs "${_lib}" "${_wheel_cuda}/lib")
else()
  # libtorch_cpu.so needs libcudart/libcupti at load time even on CPU: found via the CUDA toolkit or PyPI's runtime.
  set(_rpath_dirs "${_lib}" /usr/local/cuda/lib64 /usr/local/cuda/lib
      "$ENV{HOME}/.cache/folio/cuda-runtime/nvidia/cu13/lib"
      "$ENV{HOME}/.cache/folio/cuda-runtime/nvidia/cuda_runtime/lib"
      "$ENV{HOME}/.cache/folio/cuda-runtime/nvidia/cuda_cupti/lib")
endif()
# The build tree's binaries find these folders through their RPATH; installed ones (packaging/) find copies of
# the libraries in ../lib/folio instead, and the package is made from what the build RPATH resolves.
set(CMAKE_BUILD_RPATH ${_rpath_dirs})
set(CMAKE_INSTALL_RPATH "$ORIGIN/../lib/folio")
set(FOLIO_TORCH_RPATH_DIRS ${_rpath_dirs})
set(FOLIO_TORCH_SITE_DIR "${_site}")
target_link_options(folio_torch INTERFACE "LINKER:--allow-shlib-undefined")
add_library(folio::torch ALIAS folio_torch)
