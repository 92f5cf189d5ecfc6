// What produced an artifact: visrec version, git sha, CPU features. Stages add their libraries.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace visrec {

std::string VisrecVersion();
std::string GitSha();
// The -march the build used (CMake VISREC_ISA): "native", "x86-64-v3", ...; "default" when none.
std::string BuildIsa();

struct CpuFeatures {
  bool avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false,
       avx512_bf16 = false, amx_tile = false, amx_bf16 = false;
};
// What this CPU reports (cpuid).
CpuFeatures DetectCpuFeatures();
std::string CpuFeaturesText(const CpuFeatures& f);

// What visrec's run-time kernel choices go by: the detected features, masked down by
// VISREC_CPU_LEVEL ("avx2": no AVX-512 at all; "avx512": no bf16/AMX; "baseline": none of these;
// "native": as detected) or by
// SetCpuLevelForTesting. A mask can only remove features, so a test can play an AVX2-only CPU on
// an AVX-512 machine and never the reverse. A bad VISREC_CPU_LEVEL is a UsageError.
CpuFeatures EffectiveCpuFeatures();
void SetCpuLevelForTesting(const std::string& level);  // "" = back to the environment

// Whether oneDNN's bf16 kernels can run (they need AVX-512 BW, VL and DQ; AVX512-BF16 or AMX make
// them fast). *missing lists the absent features, for the error message.
bool CpuCanRunBf16(const CpuFeatures& f, std::string* missing);

// {"visrec": ..., "git_sha": ..., "march": ..., "cpu": ...}; stages merge their library versions into it.
nlohmann::json ProducerInfo();

}  // namespace visrec
