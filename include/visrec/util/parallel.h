// Work spread over threads.
#pragma once
#include <cstdint>
#include <functional>

namespace visrec {

// Runs fn(i) for i in [0, n) on `threads` workers (dynamic scheduling). The first exception thrown
// by any worker is rethrown here after all workers stop.
void ParallelFor(int64_t n, int threads, const std::function<void(int64_t)>& fn);

}  // namespace visrec
