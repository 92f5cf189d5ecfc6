// Process-wide allocator settings for batch work, applied once at the start of `main`, and an
// allocator for large arrays backed by transparent huge pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace visrec {

// glibc's malloc hands blocks above a moving threshold straight to mmap and gives freed memory at
// the top of the heap back to the kernel; a CNN forward pass frees and reallocates the same
// multi-megabyte activations every batch, so each batch faulted its pages in again and ran far
// slower (tools/bench/bench-extract.sh shows it). This keeps
// blocks up to 32 MB (glibc's maximum) on the heap and stops trimming it. Does nothing when the
// user set GLIBC_TUNABLES (their choice wins) or off glibc. Returns whether it changed anything.
bool TuneAllocatorForBatchWork();

// The process's peak resident memory so far, in bytes (getrusage; 0 where unavailable). Stages
// record it after each phase, so a run's manifest says which phase set the peak.
int64_t PeakRssBytes();

// Blocks of at least this many bytes come from AllocateLarge's own mappings.
constexpr std::size_t kLargeBlockBytes = std::size_t(2) << 20;
// Memory for one large array. From kLargeBlockBytes up: an anonymous mapping, 2 MiB aligned and
// rounded up to whole 2 MiB pages, that asks for transparent huge pages (madvise), so a freshly
// written 4 MB array costs two page faults instead of a thousand (each a few microseconds, far
// more on virtual machines; numpy does the same for its arrays). Below it: malloc. Throws
// std::bad_alloc when out of memory. Free with FreeLarge and the same byte count.
void* AllocateLarge(std::size_t bytes);
void FreeLarge(void* p, std::size_t bytes) noexcept;
// Whether AllocateLarge(bytes) asked the kernel for huge pages (platform support and size).
bool LargeBlockUsesHugePages(std::size_t bytes);

// std::vector's allocator for AllocateLarge: stateless, so containers compare and swap as usual.
template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > std::size_t(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(AllocateLarge(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { FreeLarge(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const HugePageAllocator<U>&) const noexcept {
    return false;
  }
};
template <class T>
using LargeVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace visrec
