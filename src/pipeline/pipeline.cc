#include "visrec/pipeline/pipeline.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "visrec/core/errors.h"
#include "visrec/core/numfmt.h"

namespace visrec::pipeline {

void RunOptions::Validate() const {
  if (catalog.empty()) throw UsageError("run: --catalog is required");
  if (split != "none" && split != "leave-last-out" && split != "random")
    throw UsageError("run: --split must be none, leave-last-out or random");
  if (split != "none" && interactions.empty()) throw UsageError("run: --split needs --interactions");
}

namespace {
template <class F>
StageResult Timed(const std::string& name, RunReport* rep, F&& f, std::string detail_key = "") {
  auto t0 = std::chrono::steady_clock::now();
  StageResult r = f();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  StageLine line{name, r.reused, s, "", r.artifact.dir.string()};
  const json& c = r.artifact.manifest["counts"];
  auto get = [&](const char* k) { return c.contains(k) ? c[k].dump() : std::string("?"); };
  if (name == "preprocess")
    line.detail = get("images_ok") + " images (" + get("images_computed") + " computed, " + get("images_reused") +
                  " reused), " + get("images_failed") + " failed";
  else if (name == "extract")
    line.detail = get("items") + " items x " + get("dim") + " (" + get("photos_computed") + " photos computed, " +
                  get("photos_reused") + " reused)";
  else if (name == "reduce")
    line.detail = get("items") + " items -> " + get("dims") + " dims";
  else if (name == "split")
    line.detail = get("train") + " train / " + get("test") + " test";
  else if (name == "recommend")
    line.detail = get("users") + " users, " + get("items") + " items, " + get("cold_items_recommended") + " cold items recommended";
  else if (name == "evaluate")
    line.detail = get("users_evaluated") + " users evaluated";
  rep->stages.push_back(line);
  return r;
}
}  // namespace

RunReport Run(const RunOptions& o, const RunContext& ctx) {
  o.Validate();
  RunReport rep;
  auto pre_opts = o.preprocess;
  pre_opts.catalog = o.catalog;
  StageResult pre = Timed("preprocess", &rep, [&] { return preprocess::Run(pre_opts, ctx); });
  auto ex_opts = o.extract;
  ex_opts.preprocess = pre.artifact.dir;
  // One threshold for the run: the share of bad photos tolerated also bounds items left without one.
  ex_opts.max_failed_fraction = o.preprocess.max_failed_fraction;
  StageResult ex = Timed("extract", &rep, [&] { return extract::Run(ex_opts, ctx); });
  auto red_opts = o.reduce;
  red_opts.extract = ex.artifact.dir;
  if (red_opts.pca.method == "lda") {
    red_opts.catalog = o.catalog;
    if (red_opts.label_column.empty()) red_opts.label_column = o.evaluate.label_column;
  }
  StageResult red = Timed("reduce", &rep, [&] { return reduce::Run(red_opts, ctx); });
  if (o.interactions.empty()) {
    spdlog::warn("run: no --interactions given; stopping after reduce (no recommendations)");
    return rep;
  }
  auto rec_opts = o.recommend;
  rec_opts.reduce = red.artifact.dir;
  rec_opts.catalog = o.catalog;
  rec_opts.interactions = o.interactions;
  std::optional<StageResult> split;
  if (o.split != "none") {
    auto so = o.split_options;
    so.interactions = o.interactions;
    so.method = o.split;
    split = Timed("split", &rep, [&] { return evaluate::RunSplit(so, ctx); });
    rec_opts.interactions = split->artifact.File("train.csv");
  }
  StageResult rec = Timed("recommend", &rep, [&] { return recommend::Run(rec_opts, ctx); });
  rep.recommendations = rec.artifact.File("recommendations.csv").string();
  rep.similar_items = rec.artifact.File("similar_items.csv").string();
  if (split) {
    auto eo = o.evaluate;
    eo.recommend = rec.artifact.dir;
    eo.test = split->artifact.File("test.csv");
    eo.train = split->artifact.File("train.csv");
    if (!eo.label_column.empty() && eo.catalog.empty()) eo.catalog = o.catalog;
    StageResult ev = Timed("evaluate", &rep, [&] { return evaluate::RunEvaluate(eo, ctx); });
    rep.report = ev.artifact.File("report.json").string();
  }
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
  if (!r.recommendations.empty()) s += "\nrecommendations: " + r.recommendations + "\nsimilar items:   " + r.similar_items + "\n";
  if (!r.report.empty()) s += "evaluation:      " + r.report + "\n";
  return s;
}

}  // namespace visrec::pipeline
