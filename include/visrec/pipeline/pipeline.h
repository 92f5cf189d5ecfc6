// `visrec run`: every stage in order, each skipped when its artifact is up to date.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "visrec/evaluate/evaluate.h"
#include "visrec/extract/extract.h"
#include "visrec/finetune/finetune.h"
#include "visrec/preprocess/preprocess.h"
#include "visrec/recommend/recommend.h"
#include "visrec/reduce/reduce.h"

namespace visrec::pipeline {

enum class Refit { kAuto, kAlways, kNever };

struct RunOptions {
  std::filesystem::path catalog;
  std::filesystem::path interactions;  // optional: without it the run stops after reduce
  preprocess::PreprocessOptions preprocess;
  // Optional fine-tuning between preprocess and extract, on when finetune.label_column is set
  // (`run --finetune-label COL`): it trains the extract model (same --model, --weights, --init-seed,
  // --device, --precision) and extract then runs with the fine-tuned weights. With evaluation on,
  // same-label precision is computed over finetune's held-out test items only.
  finetune::FinetuneOptions finetune;
  extract::ExtractOptions extract;
  reduce::ReduceOptions reduce;
  recommend::RecommendOptions recommend;
  // Nightly runs: when only the item set changed (same model, weights, pixel parameters and fit
  // options), "auto" applies the PCA fit already in use instead of refitting, and refits when the
  // share of the new data's variance that basis explains fell more than refit_drop below its share
  // at fit time; "never" always applies a compatible fit; "always" refits whenever features change.
  Refit refit = Refit::kAuto;
  double refit_drop = 0.05;
  std::optional<evaluate::SplitMethod> split;  // hold out, train, evaluate; none by default
  evaluate::SplitOptions split_options;
  evaluate::EvaluateOptions evaluate;  // used when split != none
  // With a split: after evaluating, recommend again on all interactions (the lists to serve).
  bool final = false;
  void Validate() const;
};

struct StageLine {
  std::string stage;
  bool reused = false;
  double seconds = 0;
  std::string detail;
  std::string dir;
};

struct RunReport {
  std::vector<StageLine> stages;
  std::string recommendations, similar_items, report;
  std::string evaluated_recommendations;  // --final: the train-only lists the report scored
};

RunReport Run(const RunOptions& options, const RunContext& context);
std::string FormatRunReport(const RunReport& r);

// `visrec inspect`: stage, parameters, shapes, lineage, failures of an artifact, human-readable.
std::string Inspect(const std::filesystem::path& path);
// A one-line warning when the artifact's visual features (its own, or its lineage's extract) come
// from an untrained model; empty otherwise.
std::string UntrainedWarning(const Artifact& artifact);

}  // namespace visrec::pipeline

namespace visrec {
template <>
struct ChoiceNames<pipeline::Refit> {
  static constexpr std::pair<pipeline::Refit, const char*> kNames[] = {
      {pipeline::Refit::kAuto, "auto"}, {pipeline::Refit::kAlways, "always"}, {pipeline::Refit::kNever, "never"}};
};
}  // namespace visrec
