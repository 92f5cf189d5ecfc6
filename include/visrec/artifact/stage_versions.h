// Every stage's version, in one place. A stage writes its own into each manifest (and its key); the
// manifest check every reader goes through refuses an artifact made by a newer version of its stage
// than this visrec knows, rather than misread a layout it has never seen. Bump a stage's version when
// its outputs change meaning or layout, and say what changed.
#pragma once
#include <string>

namespace visrec::stage_version {

inline constexpr int kPreprocess = 2;  // 2: trim keeps the content box inside the centre crop
inline constexpr int kFinetune = 2;    // 2: crop size and brightness drawn independently
inline constexpr int kExtract = 1;
inline constexpr int kReduce = 1;
inline constexpr int kRecommend = 3;  // 2: scoring lists for `explain`; 3: per-source similar-item arrays
inline constexpr int kSplit = 1;
inline constexpr int kEvaluate = 2;  // 2: per_user.csv

// The newest version of `stage` this visrec reads; 0 for a stage it does not know.
inline int Known(const std::string& stage) {
  if (stage == "preprocess") return kPreprocess;
  if (stage == "finetune") return kFinetune;
  if (stage == "extract") return kExtract;
  if (stage == "reduce") return kReduce;
  if (stage == "recommend") return kRecommend;
  if (stage == "split") return kSplit;
  if (stage == "evaluate") return kEvaluate;
  return 0;
}

}  // namespace visrec::stage_version
