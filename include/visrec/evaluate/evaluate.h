// `visrec evaluate`: split interactions before training, and score recommendations offline.
#pragma once
#include <filesystem>
#include <string>

#include "visrec/artifact/inputs.h"
#include "visrec/artifact/stage.h"
#include "visrec/artifact/stage_versions.h"
#include "visrec/util/choice.h"

namespace visrec::evaluate {

enum class SplitMethod { kLeaveLastOut, kRandom };  // each user's latest interaction | a random share

constexpr int kSplitStageVersion = stage_version::kSplit;
constexpr int kEvaluateStageVersion = stage_version::kEvaluate;

struct SplitOptions {
  std::filesystem::path interactions;  // required
  SplitMethod method = SplitMethod::kLeaveLastOut;
  double test_fraction = 0.2;  // random
  uint64_t seed = 0;
  BadRowPolicy bad_rows = BadRowPolicy::kSkip;
  double max_bad_rows_fraction = 0.5;  // as recommend's: exit 3 above this share of malformed rows
  void Validate() const;
};
// Writes a "split" artifact: train.csv, test.csv.
StageResult RunSplit(const SplitOptions& options, const RunContext& context);

struct EvaluateOptions {
  std::filesystem::path recommend;  // artifact dir; empty = WORKDIR/recommend/latest
  // Instead of a recommend artifact: a recommendations CSV from any source (user_id, item_id and
  // optionally rank columns, as visrec's recommendations.csv), so other libraries' output can be
  // scored and compared alike. Needs `train`; the item universe is the catalog's when given, else
  // the items of train and the lists.
  std::filesystem::path recommendations;
  std::filesystem::path test;     // held-out interactions CSV (e.g. split's test.csv)
  std::filesystem::path train;    // training interactions; empty = the one recommend used
  std::filesystem::path catalog;  // optional: labels for same-label precision
  std::string label_column;       // e.g. "category"
  // Optional: only these items (one id per line, e.g. finetune's test_items.txt) count as the
  // source items of same-label precision, so a fine-tuned model is judged on items it never saw.
  std::filesystem::path label_items;
  int k = 10;
  // More cut-offs in one call (`--k 5,10,20`): the first is `k` (the report's headline metrics and
  // the --baseline gate), all of them are in report.json's "at_k". Empty: just k.
  std::vector<int> more_k;
  uint64_t seed = 0;               // random baseline
  std::filesystem::path baseline;  // earlier report.json: exit 8 when a metric drops beyond tolerance
  double tolerance = 0.02;         // absolute drop allowed per metric
  void Validate() const;
};
StageResult RunEvaluate(const EvaluateOptions& options, const RunContext& context);

// Human-readable table of a report.json.
std::string FormatReport(const nlohmann::json& report);

}  // namespace visrec::evaluate

namespace visrec {
template <>
struct ChoiceNames<evaluate::SplitMethod> {
  static constexpr std::pair<evaluate::SplitMethod, const char*> kNames[] = {
      {evaluate::SplitMethod::kLeaveLastOut, "leave-last-out"}, {evaluate::SplitMethod::kRandom, "random"}};
};
}  // namespace visrec
