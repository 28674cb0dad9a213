# folio_version.h (generated): the version, the commit built (re-read whenever HEAD moves) and the CUDA
# architectures Folio's kernels were built for, for `folio --version` and `folio-cli --version`.
find_package(Git QUIET)
set(FOLIO_COMMIT "unknown")
if(GIT_FOUND AND EXISTS "${CMAKE_SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --short=12 HEAD WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}"
                  OUTPUT_VARIABLE FOLIO_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND "${GIT_EXECUTABLE}" status --porcelain --untracked-files=no
                  WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}" OUTPUT_VARIABLE _changes ERROR_QUIET)
  if(_changes)
    string(APPEND FOLIO_COMMIT "+changes")
  endif()
  # A new commit re-runs CMake, so the commit printed is the one built.
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --absolute-git-dir WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}"
                  OUTPUT_VARIABLE _git_dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND "${GIT_EXECUTABLE}" symbolic-ref -q HEAD WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}"
                  OUTPUT_VARIABLE _ref OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_git_dir}/HEAD")
  if(_ref AND EXISTS "${_git_dir}/${_ref}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_git_dir}/${_ref}")
  endif()
endif()
if(FOLIO_CUDA)
  string(REPLACE ";" ", " FOLIO_CUDA_ARCHS_BUILT "${FOLIO_CUDA_ARCHS}")
else()
  set(FOLIO_CUDA_ARCHS_BUILT "none (CPU build)")
endif()
configure_file("${CMAKE_SOURCE_DIR}/cmake/folio_version.h.in" "${CMAKE_BINARY_DIR}/generated/folio_version.h" @ONLY)
include_directories("${CMAKE_BINARY_DIR}/generated")
