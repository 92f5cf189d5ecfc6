// Shared test helpers: a fresh temporary directory per test, removed afterwards.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include "visrec/sample/sample.h"
#include "visrec/util/version.h"

namespace visrec::testing {

// Plays a CPU with fewer features for one scope (visrec's own detection, as the kernels see it).
struct CpuLevel {
  explicit CpuLevel(const std::string& level) { SetCpuLevelForTesting(level); }
  ~CpuLevel() { SetCpuLevelForTesting(""); }
};
// "" = as detected; "avx2" = an AVX2-only CPU (the AVX2 fused kernel here); "baseline" = no AVX.
inline const char* const kCpuLevels[] = {"", "avx2", "baseline"};

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "visrec";
    path_ = std::filesystem::temp_directory_path() / ("visrec-test-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

inline void WriteText(const std::filesystem::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

// A small seeded sample catalog (small photos) for stage and pipeline tests.
inline void MakeTinyCatalog(const std::filesystem::path& out, int items, int users, int min_side, int max_side,
                            uint64_t seed = 7) {
  sample::SampleOptions s;
  s.out_dir = out;
  s.items = items;
  s.users = users;
  s.min_side = min_side;
  s.max_side = max_side;
  s.seed = seed;
  sample::GenerateSample(s);
}

// Runs `body` and expects an exception of type E whose message contains every fragment.
template <class E, class F>
void ExpectThrowWith(F&& body, std::initializer_list<const char*> fragments) {
  try {
    body();
    ADD_FAILURE() << "expected an exception containing '" << (fragments.size() ? *fragments.begin() : "") << "'";
  } catch (const E& e) {
    for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

inline std::string ReadText(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace visrec::testing
