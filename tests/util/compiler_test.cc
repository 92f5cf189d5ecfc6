// The build's own flags must not hit the GCC 12 SLP-vectorizer wrong-code bug that the configure
// probe (cmake/compiler_probe.cc) guards against: the same pattern, compiled with the project's flags.
#include <gtest/gtest.h>

#include <vector>

namespace {

__attribute__((noinline)) std::vector<double> Copy(const std::vector<double>& v) { return v; }

TEST(Compiler, SmallConstantStoresAreNotTurnedIntoBroadcasts) {
  std::vector<double> v{1.0, 1.0, 1.0, 0.0};
  const std::vector<double> copy(v);
  EXPECT_EQ(copy[3], 0.0);
  EXPECT_EQ(Copy(v)[3], 0.0);
  std::vector<std::vector<double>> nested{v};
  EXPECT_EQ(nested[0][3], 0.0);
  std::vector<float> f{2.f, 2.f, 2.f, 2.f, 2.f, 2.f, 2.f, 5.f};
  EXPECT_EQ(std::vector<float>(f)[7], 5.f);
}

}  // namespace
