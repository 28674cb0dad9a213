#include <atomic>

#include "launch.h"

namespace folio::cuda {
namespace {
std::atomic<bool> overlapped{true};
}

bool overlappedLaunches() { return overlapped.load(std::memory_order_relaxed); }
void setOverlappedLaunches(bool on) { overlapped.store(on, std::memory_order_relaxed); }

}  // namespace folio::cuda
