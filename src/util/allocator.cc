#include "visrec/util/allocator.h"

#include <sys/resource.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace visrec {

int64_t PeakRssBytes() {
  struct rusage u {};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return int64_t(u.ru_maxrss) * 1024;  // Linux reports kilobytes
}

bool TuneAllocatorForBatchWork() {
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return false;
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  return mmap_ok && trim_ok;
#else
  return false;
#endif
}

namespace {
constexpr std::size_t kHugePage = std::size_t(2) << 20;
std::size_t RoundToHugePages(std::size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }
}  // namespace

bool LargeBlockUsesHugePages(std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  return bytes >= kLargeBlockBytes;
#else
  (void)bytes;
  return false;
#endif
}

void* AllocateLarge(std::size_t bytes) {
  if (!LargeBlockUsesHugePages(bytes)) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes > std::size_t(-1) - 2 * kHugePage) throw std::bad_alloc();
  const std::size_t size = RoundToHugePages(bytes);
  // Map one huge page more than needed, then unmap the unaligned head and the rest of the tail, so
  // the block starts on a huge-page boundary and FreeLarge knows its exact extent from `bytes`.
  void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + kHugePage - 1) & ~(std::uintptr_t(kHugePage) - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const std::uintptr_t end = start + size + kHugePage;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, size, MADV_HUGEPAGE);  // advice only: where THP is off the block still works
  return p;
#else
  return nullptr;  // unreachable: LargeBlockUsesHugePages is false here
#endif
}

void FreeLarge(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  if (!LargeBlockUsesHugePages(bytes)) {
    std::free(p);
    return;
  }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  munmap(p, RoundToHugePages(bytes));
#endif
}

}  // namespace visrec
