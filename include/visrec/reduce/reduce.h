// `visrec reduce`: PCA of the item features; fit, or apply an earlier fit to new items.
#pragma once
#include <filesystem>
#include <string>

#include "visrec/artifact/stage.h"
#include "visrec/artifact/stage_versions.h"
#include "visrec/reduce/pca.h"

namespace visrec::reduce {

constexpr int kStageVersion = stage_version::kReduce;

struct ReduceOptions {
  std::filesystem::path extract;  // artifact dir; empty = WORKDIR/extract/latest
  std::filesystem::path apply;    // a reduce artifact whose fit is reused (no refit); empty = fit
  PcaFitOptions pca;              // pca.method "lda" = Fisher LDA on catalog labels
  std::filesystem::path catalog;  // LDA: where the labels are
  std::string label_column;       // LDA: e.g. "category"
  void Validate() const;
};

StageResult Run(const ReduceOptions& options, const RunContext& context);
// The parameters a fit with these options records (mode "fit"): `run` compares them to decide
// whether an earlier fit can be applied instead of refitting.
json FitParams(const ReduceOptions& options);
// The fitted projection (mean, components, whitening) stored in a reduce artifact.
PcaModel LoadFit(const Artifact& reduce_artifact);
std::string EigenVersion();

}  // namespace visrec::reduce
