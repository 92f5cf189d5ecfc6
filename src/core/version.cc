#include "visrec/core/version.h"

#include <cpuid.h>

namespace visrec {

std::string VisrecVersion() { return VISREC_VERSION; }
std::string GitSha() { return VISREC_GIT_SHA; }

CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = b & (1u << 5);
    f.avx512f = b & (1u << 16);
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
  add(f.avx512f, "avx512f");
  add(f.avx512_bf16, "avx512_bf16");
  add(f.amx_tile, "amx_tile");
  add(f.amx_bf16, "amx_bf16");
  return s;
}

nlohmann::json ProducerInfo() {
  return {{"visrec", VisrecVersion()}, {"git_sha", GitSha()},
          {"cpu", CpuFeaturesText(DetectCpuFeatures())}};
}

}  // namespace visrec
