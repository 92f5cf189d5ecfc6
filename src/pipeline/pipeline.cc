#include "visrec/pipeline/pipeline.h"

#include <chrono>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/contracts.h"
#include "visrec/util/errors.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/options.h"

namespace visrec::pipeline {

void RunOptions::Validate() const {
  if (catalog.empty()) throw UsageError("run: --catalog is required");
  if (!finetune.label_column.empty() && !extract.model_file.empty())
    throw UsageError("run: --finetune-label trains a built-in --model; it cannot fine-tune a --model-file");
  if (split && interactions.empty()) throw UsageError("run: --split needs --interactions");
  if (final && !split)
    throw UsageError(
        "run: --final only matters with --split (without a split the recommendations already use every "
        "interaction)");
  CheckRange("run: --refit-drop", refit_drop, 0, 1);
  recommend.Validate();  // before hours of image stages, not when recommend is reached
}

namespace {
template <class F>
StageResult Timed(const std::string& name, RunReport* rep, F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  StageResult r = f();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rep->stages.push_back(StageLine{name, r.reused, s, r.Summary(), r.artifact.dir.string()});
  return r;
}
// The parent artifact recorded under `role`, if it still opens and still matches its digest.
std::optional<Artifact> ParentOf(const Artifact& a, const std::string& role, const std::string& stage) {
  try {
    return OpenParent(a, role, stage);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// The PCA fit the workdir's latest reduce artifact uses: itself when it is a fit, else the fit it applied.
std::optional<Artifact> FitInUse(const fs::path& workdir) {
  try {
    Artifact r = OpenLatest(workdir, "reduce");
    if (contract::ReduceParams::From(r.manifest).mode != "apply") return r;
    return ParentOf(r, "pca_model", "reduce");
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Features in the same space: same extract parameters and model/weights files, made from pixels
// with the same preprocess parameters. Only the set of photos differs.
bool SameFeatureSpace(const Artifact& a, const Artifact& b) {
  if (a.manifest.params != b.manifest.params) return false;
  auto inputs = [](const Artifact& x) {
    std::map<std::string, std::string> m;
    for (const auto& in : x.manifest.inputs)
      if (in.role != "preprocess") m[in.role] = in.digest;
    return m;
  };
  if (inputs(a) != inputs(b)) return false;
  auto pa = ParentOf(a, "preprocess", "preprocess"), pb = ParentOf(b, "preprocess", "preprocess");
  return pa && pb && pa->manifest.params == pb->manifest.params;
}
}  // namespace

namespace {

struct ImageStages {
  StageResult pre, ex;
  std::optional<StageResult> ft;
};

// preprocess, finetune (with --finetune-label) and extract.
ImageStages RunImageStages(const RunOptions& o, const RunContext& ctx, RunReport& rep) {
  ImageStages out;
  auto pre_opts = o.preprocess;
  pre_opts.catalog = o.catalog;
  // The model extract will run declares the input preprocess makes (flags still win).
  pre_opts.model_file = o.extract.model_file;
  pre_opts.model = o.extract.model_file.empty() ? o.extract.model : "";
  out.pre = Timed("preprocess", &rep, [&] { return preprocess::Run(pre_opts, ctx); });
  auto ex_opts = o.extract;
  ex_opts.preprocess = out.pre.artifact.dir;
  if (!o.finetune.label_column.empty()) {
    auto ft_opts = o.finetune;
    ft_opts.preprocess = out.pre.artifact.dir;
    ft_opts.catalog = o.catalog;
    ft_opts.model = o.extract.model;
    ft_opts.weights = o.extract.weights;
    ft_opts.init_seed = o.extract.init_seed;
    ft_opts.device = o.extract.device;
    if (o.extract.precision != Precision::kFp32) ft_opts.precision = o.extract.precision;
    out.ft = Timed("finetune", &rep, [&] { return finetune::Run(ft_opts, ctx); });
    ex_opts.weights = out.ft->artifact.File("weights.pt");
  }
  // One threshold for the run: the share of bad photos tolerated also bounds items left without one.
  ex_opts.max_failed_fraction = o.preprocess.max_failed_fraction;
  out.ex = Timed("extract", &rep, [&] { return extract::Run(ex_opts, ctx); });
  return out;
}

// reduce: the PCA fit in use applied to new features of the same feature space (--refit auto refits
// when it explains much less of them), else a fresh fit.
StageResult RunReduce(const RunOptions& o, const RunContext& ctx, const StageResult& ex, RunReport& rep) {
  auto red_opts = o.reduce;
  red_opts.extract = ex.artifact.dir;
  if (red_opts.pca.method == reduce::PcaMethod::kLda) {
    red_opts.catalog = o.catalog;
    if (red_opts.label_column.empty()) red_opts.label_column = o.evaluate.label_column;
  }
  std::optional<Artifact> fit =
      o.refit == Refit::kAlways || !red_opts.apply.empty() ? std::nullopt : FitInUse(ctx.workdir);
  std::optional<Artifact> fit_source = fit ? ParentOf(*fit, "extract", "extract") : std::nullopt;
  if (!(fit && fit_source && fit_source->content_digest != ex.artifact.content_digest &&
        fit->manifest.params == reduce::FitParams(red_opts) && SameFeatureSpace(*fit_source, ex.artifact)))
    return Timed("reduce", &rep, [&] { return reduce::Run(red_opts, ctx); });
  auto apply_opts = red_opts;
  apply_opts.apply = fit->dir;
  StageResult red = Timed("reduce", &rep, [&] { return reduce::Run(apply_opts, ctx); });
  const std::optional<contract::ReduceDrift> drift = contract::ReduceSummary::From(red.artifact.manifest).drift;
  if (!drift)
    throw ArtifactError("run: " + red.artifact.dir.string() + " applied a PCA fit but recorded no drift check");
  const double now = drift->new_data_explained_share, then = drift->fit_explained_share;
  if (o.refit == Refit::kAuto && now < then - o.refit_drop) {
    spdlog::warn(
        "run: the PCA basis in use explains {:.1f}% of the new features' variance, {:.1f}% at fit time "
        "(more than --refit-drop {} lower): refitting",
        100 * now, 100 * then, o.refit_drop);
    rep.stages.pop_back();
    red = Timed("reduce", &rep, [&] { return reduce::Run(red_opts, ctx); });
    rep.stages.back().detail += ", refitted: the fit in use had drifted";
  }
  return red;
}

// split (with --split), recommend, evaluate, and with --final recommend again from everything.
void RecommendAndEvaluate(const RunOptions& o, const RunContext& ctx, const StageResult& red,
                          const std::optional<StageResult>& ft, RunReport& rep) {
  auto rec_opts = o.recommend;
  rec_opts.reduce = red.artifact.dir;
  rec_opts.catalog = o.catalog;
  rec_opts.interactions = o.interactions;
  std::optional<StageResult> split;
  if (o.split) {
    auto so = o.split_options;
    so.interactions = o.interactions;
    so.method = *o.split;
    split = Timed("split", &rep, [&] { return evaluate::RunSplit(so, ctx); });
    rec_opts.interactions = split->artifact.File("train.csv");
  }
  StageResult rec = Timed("recommend", &rep, [&] { return recommend::Run(rec_opts, ctx); });
  if (!o.interactions.empty()) rep.recommendations = rec.artifact.File("recommendations.csv").string();
  rep.similar_items = rec.artifact.File("similar_items.csv").string();
  if (!split) return;
  auto eo = o.evaluate;
  eo.k = o.recommend.k;  // scored at the length of the lists recommend wrote
  eo.recommend = rec.artifact.dir;
  eo.test = split->artifact.File("test.csv");
  eo.train = split->artifact.File("train.csv");
  if (!eo.label_column.empty() && eo.catalog.empty()) eo.catalog = o.catalog;
  if (ft && !eo.label_column.empty() && eo.label_items.empty()) eo.label_items = ft->artifact.File("test_items.txt");
  StageResult ev = Timed("evaluate", &rep, [&] { return evaluate::RunEvaluate(eo, ctx); });
  rep.report = ev.artifact.File("report.json").string();
  if (o.final) {
    // The lists to serve: the same options on every interaction (`latest` ends up here, so
    // query/explain/report default to them; the evaluated lists stay in their own artifact).
    rep.evaluated_recommendations = rep.recommendations;
    rec_opts.interactions = o.interactions;
    StageResult fin = Timed("recommend", &rep, [&] { return recommend::Run(rec_opts, ctx); });
    rep.stages.back().detail += " (final: all interactions)";
    rep.recommendations = fin.artifact.File("recommendations.csv").string();
    rep.similar_items = fin.artifact.File("similar_items.csv").string();
  }
}

}  // namespace

RunReport Run(const RunOptions& o, const RunContext& ctx) {
  o.Validate();
  RunReport rep;
  const ImageStages images = RunImageStages(o, ctx, rep);
  const StageResult red = RunReduce(o, ctx, images.ex, rep);
  if (o.interactions.empty())
    spdlog::info(
        "run: no --interactions given: similar items from the visual and text sources only, no recommendations");
  RecommendAndEvaluate(o, ctx, red, images.ft, rep);
  return rep;
}

std::string FormatRunReport(const RunReport& r) {
  std::string s = "\nstage        status       time    details\n";
  for (const auto& l : r.stages) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-12s %-11s %7ss  %s\n", l.stage.c_str(), l.reused ? "up to date" : "computed",
                  FormatFixed(l.seconds, 1).c_str(), l.detail.c_str());
    s += buf;
  }
  double total = 0;
  for (const auto& l : r.stages) total += l.seconds;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%-12s %-11s %7ss\n", "total", "", FormatFixed(total, 1).c_str());
  s += buf;
  if (!r.recommendations.empty())
    s += "\nrecommendations: " + r.recommendations + "\n";
  else if (!r.similar_items.empty())
    s += "\nrecommendations: none (no --interactions given)\n";
  if (!r.similar_items.empty()) s += "similar items:   " + r.similar_items + "\n";
  if (!r.report.empty()) s += "evaluation:      " + r.report + "\n";
  if (!r.evaluated_recommendations.empty())
    s += "evaluated lists: " + r.evaluated_recommendations +
         "\nnote: the evaluation scored lists trained on the training part only; the recommendations above "
         "(--final) are trained on all interactions: serve those\n";
  else if (!r.report.empty() && !r.recommendations.empty())
    s += "note: with --split the recommendations are trained on the training part only (the held-out "
         "interactions are left out); add --final for lists trained on all interactions, or run without --split\n";
  return s;
}

}  // namespace visrec::pipeline
