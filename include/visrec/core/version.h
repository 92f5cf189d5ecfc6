// What produced an artifact: visrec version, git sha, CPU features. Stages add their libraries.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace visrec {

std::string VisrecVersion();
std::string GitSha();

struct CpuFeatures {
  bool avx2 = false, avx512f = false, avx512_bf16 = false, amx_tile = false, amx_bf16 = false;
};
CpuFeatures DetectCpuFeatures();
std::string CpuFeaturesText(const CpuFeatures& f);

// {"visrec": ..., "git_sha": ..., "cpu": ...}; stages merge their library versions into it.
nlohmann::json ProducerInfo();

}  // namespace visrec
