// Each stage's artifact contract, typed: the parameters its readers rely on and the summary
// (manifest `counts`, plus a headline from `extra`) that `run`'s table and `inspect` print.
//
// A stage writes its summary with ToJson(); everyone else reads through From(), which takes every
// field from the manifest's checked getters: a missing or mistyped key is an ArtifactError (exit 4)
// naming the artifact and key, never a made-up default. The contracts live here, beside the
// manifest, because stage libraries do not link each other.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "visrec/artifact/manifest.h"
#include "visrec/util/compute.h"

namespace visrec::contract {

// ---- preprocess
struct PreprocessParams {
  int resize = 0, crop = 0;
  std::array<double, 3> mean{}, std{};
  std::string shard;  // "i/N" for a shard's own artifact, "" otherwise
  // Which of crop/mean/std were given as options ("option") rather than taken from a model's sidecar
  // (artifacts made before it was recorded: none).
  bool crop_from_option = false, mean_from_option = false, std_from_option = false;
  static PreprocessParams From(const Manifest& m);
};
struct PreprocessSummary {
  int64_t photos = 0, images_ok = 0, images_failed = 0, images_reused = 0, images_computed = 0, items = 0,
          items_without_photo = 0, shards = 0, catalog_rows_skipped = 0, duplicate_photo_rows = 0;
  json ToJson() const;
  static PreprocessSummary From(const Manifest& m);
  std::string Line() const;
};

// ---- finetune
struct FinetuneSummary {
  int64_t classes = 0, items_labelled = 0, items_unlabelled = 0, items_train = 0, items_dev = 0, items_test = 0,
          photos_train = 0, photos_dev = 0, photos_test = 0, epochs_run = 0;
  // From extra (not part of ToJson): the headline of the training.
  double test_accuracy = 0;
  int64_t best_epoch = 0;
  json ToJson() const;
  static FinetuneSummary From(const Manifest& m);
  std::string Line() const;
};

// ---- extract
struct ExtractParams {
  std::string model;  // a built-in architecture, or "torchscript"
  Precision precision = Precision::kFp32;
  CpuKernels cpu_kernels = CpuKernels::kAuto;
  bool channels_last = true;
  std::optional<uint64_t> init_seed;  // built-in models without --weights
  std::array<double, 3> normalize_mean{}, normalize_std{};
  static ExtractParams From(const Manifest& m);
};
struct ExtractSummary {
  int64_t items = 0, dim = 0, photos = 0, photos_computed = 0, photos_reused = 0, items_without_features = 0;
  std::optional<int64_t> shards;  // merged artifacts only
  bool untrained = false;         // extra: the model had random weights
  json ToJson() const;            // counts only
  static ExtractSummary From(const Manifest& m);
  std::string Line() const;
};

// ---- reduce
struct ReduceParams {
  std::string mode;  // "fit" | "apply" (an applied fit records only its mode; the fit is its pca_model input)
  // A fit's options; absent in an applied one. dims or variance_target, whichever chose the size.
  std::optional<std::string> method;  // as asked: "auto", "exact", "randomized", "lda"
  std::optional<int64_t> dims;
  std::optional<double> variance_target;
  std::optional<bool> whiten;
  static ReduceParams From(const Manifest& m);
  std::string Describe() const;  // "exact 64", "auto variance 0.9 whitened", "apply"
};
struct ReduceDrift {
  double fit_explained_share = 0, new_data_explained_share = 0;
};
struct ReduceSummary {
  int64_t items = 0, input_dim = 0, dims = 0;
  std::optional<ReduceDrift> drift;  // extra: an applied fit's drift check
  json ToJson() const;               // counts only
  static ReduceSummary From(const Manifest& m);
  std::string Line() const;
};

// ---- split
struct SplitParams {
  std::string method;
  static SplitParams From(const Manifest& m);
};
struct SplitSummary {
  int64_t train = 0, test = 0, rows_skipped = 0;
  json ToJson() const;
  static SplitSummary From(const Manifest& m);
  std::string Line() const;
};

// ---- recommend
struct RecommendBlend {
  std::string mode;  // "fixed" | "auto"
  double w_cf = 0, w_visual = 0, w_text = 0;
};
struct RecommendParams {
  int64_t k = 0, similar_k = 0, neighbors = 0;
  double half_life_days = 0;
  std::string bad_rows;                     // "skip" | "fail"
  std::optional<std::string> visual_index;  // artifacts made before the option: absent
  std::string score_part, shard;            // a user part's / an item shard's own artifact; "" otherwise
  // The weights used: extra.blend, written since --blend auto; before it, the fixed params.
  RecommendBlend blend;
  static RecommendParams From(const Manifest& m);
};
struct RecommendSummary {
  int64_t users = 0, items = 0, items_with_vectors = 0, interactions = 0, interactions_unknown_item = 0,
          interaction_rows_skipped = 0, users_popularity_fallback = 0, items_without_interactions = 0,
          cold_items_recommended = 0, interaction_rows = 0;
  bool text_similarity = false, has_recommendations = false;
  json ToJson() const;
  static RecommendSummary From(const Manifest& m);
  std::string Line() const;
};

// ---- evaluate
struct EvaluateParams {
  int64_t k = 0;
  static EvaluateParams From(const Manifest& m);
};
struct EvaluateSummary {
  int64_t users_evaluated = 0;
  json ToJson() const;
  static EvaluateSummary From(const Manifest& m);
  std::string Line() const;
};

// The one-line summary of any artifact, by its stage ("" for a stage without one). Shards' and
// user parts' own artifacts get a line of their own.
std::string SummaryLine(const Manifest& m);

}  // namespace visrec::contract
