#include "visrec/artifact/contracts.h"

#include "visrec/util/numfmt.h"

namespace visrec::contract {
namespace {
std::string N(int64_t v) { return std::to_string(v); }

// extra.input_source.<field> == "option": the value was given as an option, not taken from a model.
bool FromOption(const Manifest& m, const char* field) {
  const std::optional<json> src = m.OptionalExtra<json>("input_source");
  if (!src) return false;
  if (!src->is_object()) m.Bad("extra", "input_source", "not an object");
  auto it = src->find(field);
  return it != src->end() && it->is_string() && it->get<std::string>() == "option";
}
}  // namespace

PreprocessParams PreprocessParams::From(const Manifest& m) {
  PreprocessParams p;
  p.resize = m.Param<int>("resize");
  p.crop = m.Param<int>("crop");
  p.mean = m.Param<std::array<double, 3>>("mean");
  p.std = m.Param<std::array<double, 3>>("std");
  p.shard = m.OptionalParam<std::string>("shard").value_or("");
  p.crop_from_option = FromOption(m, "crop");
  p.mean_from_option = FromOption(m, "mean");
  p.std_from_option = FromOption(m, "std");
  return p;
}

json PreprocessSummary::ToJson() const {
  return {{"photos", photos},
          {"images_ok", images_ok},
          {"images_failed", images_failed},
          {"images_reused", images_reused},
          {"images_computed", images_computed},
          {"items", items},
          {"items_without_photo", items_without_photo},
          {"shards", shards},
          {"catalog_rows_skipped", catalog_rows_skipped},
          {"duplicate_photo_rows", duplicate_photo_rows}};
}
PreprocessSummary PreprocessSummary::From(const Manifest& m) {
  PreprocessSummary s;
  s.photos = m.Count<int64_t>("photos");
  s.images_ok = m.Count<int64_t>("images_ok");
  s.images_failed = m.Count<int64_t>("images_failed");
  s.images_reused = m.Count<int64_t>("images_reused");
  s.images_computed = m.Count<int64_t>("images_computed");
  s.items = m.Count<int64_t>("items");
  s.items_without_photo = m.Count<int64_t>("items_without_photo");
  s.shards = m.Count<int64_t>("shards");
  s.catalog_rows_skipped = m.Count<int64_t>("catalog_rows_skipped");
  s.duplicate_photo_rows = m.Count<int64_t>("duplicate_photo_rows");
  return s;
}
std::string PreprocessSummary::Line() const {
  return N(images_ok) + " images (" + N(images_computed) + " computed, " + N(images_reused) + " reused), " +
         N(images_failed) + " failed";
}

json FinetuneSummary::ToJson() const {
  return {{"classes", classes},           {"items_labelled", items_labelled}, {"items_unlabelled", items_unlabelled},
          {"items_train", items_train},   {"items_dev", items_dev},           {"items_test", items_test},
          {"photos_train", photos_train}, {"photos_dev", photos_dev},         {"photos_test", photos_test},
          {"epochs_run", epochs_run}};
}
FinetuneSummary FinetuneSummary::From(const Manifest& m) {
  FinetuneSummary s;
  s.classes = m.Count<int64_t>("classes");
  s.items_labelled = m.Count<int64_t>("items_labelled");
  s.items_unlabelled = m.Count<int64_t>("items_unlabelled");
  s.items_train = m.Count<int64_t>("items_train");
  s.items_dev = m.Count<int64_t>("items_dev");
  s.items_test = m.Count<int64_t>("items_test");
  s.photos_train = m.Count<int64_t>("photos_train");
  s.photos_dev = m.Count<int64_t>("photos_dev");
  s.photos_test = m.Count<int64_t>("photos_test");
  s.epochs_run = m.Count<int64_t>("epochs_run");
  s.test_accuracy = m.Extra<double>("test_accuracy");
  s.best_epoch = m.Extra<int64_t>("best_epoch");
  return s;
}
std::string FinetuneSummary::Line() const {
  return N(classes) + " classes, " + N(items_train) + "/" + N(items_dev) + "/" + N(items_test) +
         " items train/dev/test, test accuracy " + FormatFixed(test_accuracy, 3) + " (epoch " + N(best_epoch) + " of " +
         N(epochs_run) + ")";
}

ExtractParams ExtractParams::From(const Manifest& m) {
  ExtractParams p;
  p.model = m.Param<std::string>("model");
  p.precision = m.ParamChoice<Precision>("precision");
  p.cpu_kernels = m.ParamChoice<CpuKernels>("cpu_kernels");
  p.channels_last = m.Param<bool>("channels_last");
  p.init_seed = m.OptionalParam<uint64_t>("init_seed");
  p.normalize_mean = m.Param<std::array<double, 3>>("normalize_mean");
  p.normalize_std = m.Param<std::array<double, 3>>("normalize_std");
  return p;
}

json ExtractSummary::ToJson() const {
  json c = {{"items", items},
            {"dim", dim},
            {"photos", photos},
            {"photos_computed", photos_computed},
            {"photos_reused", photos_reused},
            {"items_without_features", items_without_features}};
  if (shards) c["shards"] = *shards;
  return c;
}
ExtractSummary ExtractSummary::From(const Manifest& m) {
  ExtractSummary s;
  s.items = m.Count<int64_t>("items");
  s.dim = m.Count<int64_t>("dim");
  s.photos = m.Count<int64_t>("photos");
  s.photos_computed = m.Count<int64_t>("photos_computed");
  s.photos_reused = m.Count<int64_t>("photos_reused");
  s.items_without_features = m.Count<int64_t>("items_without_features");
  s.shards = m.OptionalCount<int64_t>("shards");
  s.untrained = m.Extra<bool>("untrained");
  return s;
}
std::string ExtractSummary::Line() const {
  return N(items) + " items x " + N(dim) + " (" + N(photos_computed) + " photos computed, " + N(photos_reused) +
         " reused)" + (untrained ? ", UNTRAINED model: visual similarity is noise (README 'Pretrained weights')" : "");
}

ReduceParams ReduceParams::From(const Manifest& m) {
  ReduceParams p;
  p.mode = m.Param<std::string>("mode");
  if (p.mode == "apply") return p;
  p.method = m.Param<std::string>("method");
  p.whiten = m.Param<bool>("whiten");
  p.dims = m.OptionalParam<int64_t>("dims");
  p.variance_target = m.OptionalParam<double>("variance_target");
  if (!p.dims && !p.variance_target) m.Bad("params", "dims", "missing, and no variance_target either");
  return p;
}

std::string ReduceParams::Describe() const {
  if (mode == "apply") return "apply";
  return *method + " " + (dims ? N(*dims) : "variance " + FormatFixed(*variance_target, 2)) +
         (*whiten ? " whitened" : "");
}

json ReduceSummary::ToJson() const { return {{"items", items}, {"input_dim", input_dim}, {"dims", dims}}; }
ReduceSummary ReduceSummary::From(const Manifest& m) {
  ReduceSummary s;
  s.items = m.Count<int64_t>("items");
  s.input_dim = m.Count<int64_t>("input_dim");
  s.dims = m.Count<int64_t>("dims");
  if (const std::optional<json> d = m.OptionalExtra<json>("drift")) {
    auto share = [&](const char* name) {
      auto it = d->find(name);
      if (it == d->end() || !it->is_number()) m.Bad("extra", std::string("drift.") + name, "missing or not a number");
      return it->get<double>();
    };
    s.drift = ReduceDrift{share("fit_explained_share"), share("new_data_explained_share")};
  }
  return s;
}
std::string ReduceSummary::Line() const {
  std::string line = N(items) + " items -> " + N(dims) + " dims";
  if (drift)
    line += ", applied the fit in use (its basis explains " + FormatFixed(100 * drift->new_data_explained_share, 1) +
            "% of the new data, " + FormatFixed(100 * drift->fit_explained_share, 1) + "% at fit)";
  return line;
}

SplitParams SplitParams::From(const Manifest& m) { return {m.Param<std::string>("method")}; }

json SplitSummary::ToJson() const { return {{"train", train}, {"test", test}, {"rows_skipped", rows_skipped}}; }
SplitSummary SplitSummary::From(const Manifest& m) {
  return {m.Count<int64_t>("train"), m.Count<int64_t>("test"), m.Count<int64_t>("rows_skipped")};
}
std::string SplitSummary::Line() const { return N(train) + " train / " + N(test) + " test"; }

RecommendParams RecommendParams::From(const Manifest& m) {
  RecommendParams p;
  p.k = m.Param<int64_t>("k");
  p.similar_k = m.Param<int64_t>("similar_k");
  p.neighbors = m.Param<int64_t>("neighbors");
  p.half_life_days = m.Param<double>("half_life_days");
  p.bad_rows = m.Param<std::string>("bad_rows");
  p.visual_index = m.OptionalParam<std::string>("visual_index");
  p.score_part = m.OptionalParam<std::string>("score_part").value_or("");
  p.shard = m.OptionalParam<std::string>("shard").value_or("");
  if (const std::optional<json> b = m.OptionalExtra<json>("blend")) {
    auto get = [&](const char* name) -> const json& {
      auto it = b->find(name);
      if (it == b->end()) m.Bad("extra", std::string("blend.") + name, "missing");
      return *it;
    };
    try {
      p.blend = {get("mode").get<std::string>(), get("w_cf").get<double>(), get("w_visual").get<double>(),
                 get("w_text").get<double>()};
    } catch (const json::exception& e) {
      m.Bad("extra", "blend", e.what());
    }
  } else {
    p.blend = {"fixed", m.Param<double>("w_cf"), m.Param<double>("w_visual"), m.Param<double>("w_text")};
  }
  return p;
}

json RecommendSummary::ToJson() const {
  return {{"users", users},
          {"items", items},
          {"items_with_vectors", items_with_vectors},
          {"interactions", interactions},
          {"interactions_unknown_item", interactions_unknown_item},
          {"interaction_rows_skipped", interaction_rows_skipped},
          {"users_popularity_fallback", users_popularity_fallback},
          {"items_without_interactions", items_without_interactions},
          {"cold_items_recommended", cold_items_recommended},
          {"text_similarity", text_similarity},
          {"interaction_rows", interaction_rows},
          {"has_recommendations", has_recommendations}};
}
RecommendSummary RecommendSummary::From(const Manifest& m) {
  RecommendSummary s;
  s.users = m.Count<int64_t>("users");
  s.items = m.Count<int64_t>("items");
  s.items_with_vectors = m.Count<int64_t>("items_with_vectors");
  s.interactions = m.Count<int64_t>("interactions");
  s.interactions_unknown_item = m.Count<int64_t>("interactions_unknown_item");
  s.interaction_rows_skipped = m.Count<int64_t>("interaction_rows_skipped");
  s.users_popularity_fallback = m.Count<int64_t>("users_popularity_fallback");
  s.items_without_interactions = m.Count<int64_t>("items_without_interactions");
  s.cold_items_recommended = m.Count<int64_t>("cold_items_recommended");
  s.text_similarity = m.Count<bool>("text_similarity");
  s.interaction_rows = m.Count<int64_t>("interaction_rows");
  s.has_recommendations = m.Count<bool>("has_recommendations");
  return s;
}
std::string RecommendSummary::Line() const {
  return has_recommendations
             ? N(users) + " users, " + N(items) + " items, " + N(cold_items_recommended) + " cold items recommended"
             : N(items) + " items: similar items only (no interactions, so no recommendations.csv)";
}

EvaluateParams EvaluateParams::From(const Manifest& m) { return {m.Param<int64_t>("k")}; }

json EvaluateSummary::ToJson() const { return {{"users_evaluated", users_evaluated}}; }
EvaluateSummary EvaluateSummary::From(const Manifest& m) { return {m.Count<int64_t>("users_evaluated")}; }
std::string EvaluateSummary::Line() const { return N(users_evaluated) + " users evaluated"; }

std::string SummaryLine(const Manifest& m) {
  if (m.stage == "preprocess") return PreprocessSummary::From(m).Line();
  if (m.stage == "finetune") return FinetuneSummary::From(m).Line();
  if (m.stage == "extract") return ExtractSummary::From(m).Line();
  if (m.stage == "reduce") return ReduceSummary::From(m).Line();
  if (m.stage == "split") return SplitSummary::From(m).Line();
  if (m.stage == "evaluate") return EvaluateSummary::From(m).Line();
  if (m.stage == "recommend") {
    // A shard's lists and a user part have counts (and, for a shard, params) of their own.
    if (const auto shard = m.OptionalParam<std::string>("shard"))
      return "shard " + *shard + " of the similar-item lists: " + N(m.Count<int64_t>("shard_items")) + " of " +
             N(m.Count<int64_t>("items")) + " items (merge with --merge-shards)";
    if (const auto part = m.OptionalParam<std::string>("score_part"))
      return "user part " + *part + ": " + N(m.Count<int64_t>("users")) + " of " + N(m.Count<int64_t>("users_total")) +
             " users (merge with --merge-parts)";
    return RecommendSummary::From(m).Line();
  }
  return "";
}

}  // namespace visrec::contract
