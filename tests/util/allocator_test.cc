#include "visrec/util/allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>

namespace visrec {
namespace {

TEST(Allocator, LargeBlocksAreHugePageAlignedAndUsable) {
  const std::size_t bytes = kLargeBlockBytes * 3 + 12345;  // not a whole number of huge pages
  auto* p = static_cast<unsigned char*>(AllocateLarge(bytes));
  ASSERT_NE(p, nullptr);
  if (LargeBlockUsesHugePages(bytes)) EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % (std::uintptr_t(2) << 20), 0u);
  for (std::size_t i = 0; i < bytes; i += 4093) p[i] = static_cast<unsigned char>(i);
  p[bytes - 1] = 7;  // the last byte is ours
  for (std::size_t i = 0; i < bytes; i += 4093) ASSERT_EQ(p[i], static_cast<unsigned char>(i)) << i;
  EXPECT_EQ(p[bytes - 1], 7);
  FreeLarge(p, bytes);
  void* small = AllocateLarge(100);  // below the threshold: plain malloc, freed the same way
  ASSERT_NE(small, nullptr);
  EXPECT_FALSE(LargeBlockUsesHugePages(100));
  FreeLarge(small, 100);
  FreeLarge(AllocateLarge(0), 0);
}

TEST(Allocator, LargeVectorKeepsItsContentsAcrossGrowthFromSmallToLarge) {
  LargeVector<int32_t> v;
  const int32_t n = int32_t(kLargeBlockBytes / sizeof(int32_t)) * 2 + 17;  // crosses the threshold while growing
  for (int32_t i = 0; i < n; ++i) v.push_back(i * 3);
  for (int32_t i = 0; i < n; ++i) ASSERT_EQ(v[size_t(i)], i * 3) << i;
  LargeVector<int32_t> copy = v;
  v.clear();
  v.shrink_to_fit();
  EXPECT_EQ(std::accumulate(copy.begin(), copy.end(), int64_t(0)), int64_t(3) * n * (n - 1) / 2);
  EXPECT_THROW(copy.reserve(copy.max_size()), std::bad_alloc);  // an error, not a crash
}

}  // namespace
}  // namespace visrec
