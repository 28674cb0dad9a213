# Provides the target folio::torch.
# FOLIO_CUDA=ON: libtorch's own CMake package (CUDA build on the GPU machine; set CMAKE_PREFIX_PATH to its share/cmake).
# FOLIO_CUDA=OFF: only libtorch_cpu and c10 from the torch wheel in FOLIO_TORCH_DIR, so no GPU libraries are needed.
if(FOLIO_CUDA)
  find_package(Torch REQUIRED)
  add_library(folio_torch INTERFACE)
  target_link_libraries(folio_torch INTERFACE ${TORCH_LIBRARIES})
  target_compile_definitions(folio_torch INTERFACE FOLIO_HAVE_CUDA=1)
else()
  if(NOT FOLIO_TORCH_DIR)
    message(FATAL_ERROR "Set FOLIO_TORCH_DIR to the torch package folder (scripts/deps.sh installs one)")
  endif()
  set(_lib "${FOLIO_TORCH_DIR}/lib")
  foreach(_name torch_cpu c10)
    if(NOT EXISTS "${_lib}/lib${_name}.so")
      message(FATAL_ERROR "libtorch not found: ${_lib}/lib${_name}.so is missing")
    endif()
  endforeach()
  add_library(folio_torch INTERFACE)
  target_include_directories(folio_torch SYSTEM INTERFACE
    "${FOLIO_TORCH_DIR}/include" "${FOLIO_TORCH_DIR}/include/torch/csrc/api/include")
  target_link_libraries(folio_torch INTERFACE "${_lib}/libtorch_cpu.so" "${_lib}/libc10.so")
  # libtorch_cpu.so needs libcudart/libcupti at load time even on CPU: found via the CUDA toolkit or PyPI's runtime.
  set(_cuda_rt_dirs "${_lib}" /usr/local/cuda/lib64 /usr/local/cuda/lib
      "$ENV{HOME}/.cache/folio/cuda-runtime/nvidia/cu13/lib"
      "$ENV{HOME}/.cache/folio/cuda-runtime/nvidia/cuda_runtime/lib"
      "$ENV{HOME}/.cache/folio/cuda-runtime/nvidia/cuda_cupti/lib")
  string(JOIN ":" _rpath ${_cuda_rt_dirs})
  target_link_options(folio_torch INTERFACE "LINKER:-rpath,${_rpath}" "LINKER:--allow-shlib-undefined")
  target_compile_definitions(folio_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
endif()
add_library(folio::torch ALIAS folio_torch)
