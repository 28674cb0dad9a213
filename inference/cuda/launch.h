// Whether Folio's decode kernels are launched with programmatic dependent launch (launch.cuh): on by default;
// folio-bench turns it off to measure what it gives. Read at launch time, so a CUDA graph keeps the setting it
// was captured with.
#pragma once

namespace folio::cuda {

bool overlappedLaunches();
void setOverlappedLaunches(bool on);

}  // namespace folio::cuda
