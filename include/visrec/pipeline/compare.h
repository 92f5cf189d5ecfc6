// `visrec compare`: several evaluated runs side by side (their distinguishing parameters, walked up
// the lineage, and their metrics at every cut-off), with paired bootstrap intervals of each run's
// difference from a reference run, user by user, when the runs were scored on the same test set.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace visrec::pipeline {

struct CompareOptions {
  // Evaluate artifact dirs, report.json files inside them, or workdirs (their latest evaluate).
  std::vector<std::filesystem::path> runs;
  int baseline = 1;          // 1-based: the run the others are compared against
  int resamples = 2000;      // paired bootstrap resamples
  uint64_t seed = 0;         // bootstrap seed
  double confidence = 0.95;  // interval coverage
  void Validate() const;
};

// A percentile interval of the mean of `diffs` (one paired difference per user): `resamples` draws of
// as many users with replacement, seeded; low and high are the (1-c)/2 and (1+c)/2 order statistics of
// the resampled means (lower: index floor(B*(1-c)/2), upper: index ceil(B*(1+c)/2) - 1).
struct Interval {
  double mean = 0, low = 0, high = 0;
  bool significant() const { return low > 0 || high < 0; }
};
Interval PairedBootstrap(const std::vector<double>& diffs, int resamples, uint64_t seed, double confidence);
// The same for several metrics at once with the same resampled users (so they are comparable).
std::vector<Interval> PairedBootstrap(const std::vector<std::vector<double>>& diffs, int resamples, uint64_t seed,
                                      double confidence);

// All that compare prints, as data: {"runs": [...], "paired": [...], "notes": [...]}.
nlohmann::json Compare(const CompareOptions& options);
std::string FormatCompare(const nlohmann::json& comparison);
std::string CompareCsv(const nlohmann::json& comparison);

}  // namespace visrec::pipeline
