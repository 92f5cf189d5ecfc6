#include "visrec/util/version.h"

#include <cpuid.h>

#include <cstdlib>
#include <mutex>

#include "visrec/util/errors.h"

#ifndef VISREC_BUILD_ISA
#define VISREC_BUILD_ISA ""  // builds outside CMake (tools/ci/fuzz.sh)
#endif

namespace visrec {

std::string VisrecVersion() { return VISREC_VERSION; }
namespace detail {
const char* BuildGitSha();  // generated at build time (cmake/git_sha.cmake)
}
std::string GitSha() { return detail::BuildGitSha(); }
std::string BuildIsa() { return VISREC_BUILD_ISA[0] ? VISREC_BUILD_ISA : "default"; }

CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d)) f.fma = c & (1u << 12);
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = b & (1u << 5);
    f.avx512f = b & (1u << 16);
    f.avx512dq = b & (1u << 17);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.amx_bf16 = d & (1u << 22);
    f.amx_tile = d & (1u << 24);
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = a & (1u << 5);
#endif
  return f;
}

std::string CpuFeaturesText(const CpuFeatures& f) {
  std::string s;
  auto add = [&](bool on, const char* name) { s += std::string(s.empty() ? "" : " ") + name + (on ? "=yes" : "=no"); };
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vl, "avx512vl");
  add(f.avx512dq, "avx512dq");
  add(f.avx512_bf16, "avx512_bf16");
  add(f.amx_tile, "amx_tile");
  add(f.amx_bf16, "amx_bf16");
  return s;
}

namespace {
std::mutex g_level_mutex;
std::string g_test_level;  // guarded by g_level_mutex

CpuFeatures Mask(CpuFeatures f, const std::string& level, const char* source) {
  if (level.empty() || level == "native") return f;
  if (level == "avx512") {
    f.avx512_bf16 = f.amx_bf16 = f.amx_tile = false;
    return f;
  }
  if (level == "avx2") {
    CpuFeatures m;
    m.avx2 = f.avx2;
    m.fma = f.fma;
    return m;
  }
  if (level == "baseline") return CpuFeatures{};  // x86-64's SSE2 only: every kernel's plain fallback
  throw UsageError(std::string(source) + " must be native, avx512, avx2 or baseline, got '" + level + "'");
}
}  // namespace

CpuFeatures EffectiveCpuFeatures() {
  static const CpuFeatures detected = DetectCpuFeatures();
  {
    std::lock_guard<std::mutex> lock(g_level_mutex);
    if (!g_test_level.empty()) return Mask(detected, g_test_level, "the test CPU level");
  }
  const char* env = std::getenv("VISREC_CPU_LEVEL");
  return Mask(detected, env ? env : "", "VISREC_CPU_LEVEL");
}

void SetCpuLevelForTesting(const std::string& level) {
  std::lock_guard<std::mutex> lock(g_level_mutex);
  g_test_level = level;
}

bool CpuCanRunBf16(const CpuFeatures& f, std::string* missing) {
  std::string m;
  if (!f.avx512bw) m += " avx512bw";
  if (!f.avx512vl) m += " avx512vl";
  if (!f.avx512dq) m += " avx512dq";
  if (missing) *missing = m.empty() ? "" : m.substr(1);
  return m.empty();
}

nlohmann::json ProducerInfo() {
  return {{"visrec", VisrecVersion()},
          {"git_sha", GitSha()},
          {"march", BuildIsa()},
          {"cpu", CpuFeaturesText(EffectiveCpuFeatures())}};
}

}  // namespace visrec
