// What every stage shares: where it works, how hard it may push, and what it reports back.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "visrec/core/artifact.h"

namespace visrec {

struct RunContext {
  std::filesystem::path workdir;  // artifacts go to WORKDIR/<stage>/<key>/
  bool force = false;             // recompute even when an up-to-date artifact exists
  int threads = 0;                // 0 = all cores
};

int ResolveThreads(int requested);  // 0 -> hardware concurrency, at least 1

struct StageResult {
  Artifact artifact;
  bool reused = false;     // an up-to-date artifact existed; nothing was recomputed
  double seconds = 0;
  nlohmann::json summary;  // small, human-facing counts for `run`'s table
};

// The up-to-date check every stage makes before computing: unless --force, an existing valid
// artifact with this key becomes `latest` again and is returned as reused (and logged).
std::optional<StageResult> FindUpToDate(const RunContext& context, const std::string& stage, const std::string& key);

}  // namespace visrec

#include <functional>
namespace visrec {
// Runs fn(i) for i in [0, n) on `threads` workers (dynamic scheduling). The first exception thrown
// by any worker is rethrown here after all workers stop.
void ParallelFor(int64_t n, int threads, const std::function<void(int64_t)>& fn);
}  // namespace visrec
