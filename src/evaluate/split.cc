#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include <spdlog/spdlog.h>

#include "visrec/core/errors.h"
#include "visrec/core/options.h"
#include "visrec/core/sha256.h"
#include "visrec/evaluate/evaluate.h"

namespace visrec::evaluate {

void SplitOptions::Validate() const {
  if (interactions.empty()) throw UsageError("split: --interactions is required");
  if (method != "leave-last-out" && method != "random")
    throw UsageError("split: --split must be leave-last-out or random");
  CheckRange("split: --test-fraction", test_fraction, 0, 1);
  if (method == "random" && !(test_fraction > 0 && test_fraction < 1))
    throw UsageError("split: --test-fraction must be in (0, 1)");
  CheckRange("split: --max-bad-rows-fraction", max_bad_rows_fraction, 0, 1);
}

StageResult RunSplit(const SplitOptions& o, const RunContext& ctx) {
  o.Validate();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ArtifactInput> inputs{{"interactions", "file", fs::absolute(o.interactions).lexically_normal().string(),
                                     Sha256File(o.interactions)}};
  json params{{"method", o.method}, {"bad_rows", o.bad_rows == BadRowPolicy::kSkip ? "skip" : "fail"}};
  if (o.method == "random") { params["test_fraction"] = o.test_fraction; params["seed"] = o.seed; }
  const std::string key = ComputeArtifactKey("split", kSplitStageVersion, params, inputs);
  if (auto up = FindUpToDate(ctx, "split", key)) return *up;
  Interactions in = ReadInteractions(o.interactions, o.bad_rows);
  RequireUsableShare(o.interactions.string(), in.data_rows, int64_t(in.issues.size()), IssueExamples(in.issues, 3),
                     o.max_bad_rows_fraction);
  std::vector<Interaction> train, test;
  if (o.method == "leave-last-out") {
    if (!in.has_timestamp)
      throw InputError(o.interactions.string() + ": leave-last-out needs a timestamp column; use --split random");
    RequireTimestampOnEveryRow(in, "leave-last-out", "use --split random");
    // Per user, every row of the latest (item) goes to test; users with a single item stay in train.
    std::map<std::string, std::vector<const Interaction*>> by_user;
    for (const auto& x : in.rows) by_user[x.user_id].push_back(&x);
    for (auto& [u, rows] : by_user) {
      const Interaction* last = rows[0];
      for (auto* r : rows)
        if (r->timestamp > last->timestamp || (r->timestamp == last->timestamp && r->line > last->line)) last = r;
      bool single = std::all_of(rows.begin(), rows.end(), [&](auto* r) { return r->item_id == last->item_id; });
      for (auto* r : rows) (!single && r->item_id == last->item_id ? test : train).push_back(*r);
    }
  } else {
    std::mt19937_64 g(o.seed);
    for (const auto& x : in.rows) ((double(g() >> 11) * 0x1.0p-53) < o.test_fraction ? test : train).push_back(x);
  }
  if (test.empty())
    throw InputError(o.interactions.string() + ": the " + o.method + " split leaves no interaction to test (" +
                     std::to_string(in.rows.size()) + " rows; leave-last-out needs users with at least two items)" +
                     "; evaluation would score nobody. Use more data" +
                     (o.method == "random" ? std::string(" or a larger --test-fraction") : std::string()));
  ArtifactBuilder b(ctx.workdir, "split", kSplitStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  WriteInteractions(b.Path("train.csv"), train, in.has_weight, in.has_timestamp);
  WriteInteractions(b.Path("test.csv"), test, in.has_weight, in.has_timestamp);
  b.AddOutput("train.csv");
  b.AddOutput("test.csv");
  b.counts() = {{"train", train.size()}, {"test", test.size()}, {"rows_skipped", in.issues.size()}};
  if (!in.issues.empty()) b.extra()["skipped_rows"] = IssueList(in.issues);
  b.SetTiming("total", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  Artifact a = b.Commit();
  spdlog::info("split ({}): {} train / {} test interactions -> {}", o.method, train.size(), test.size(), a.dir.string());
  return StageResult{a, false, 0, a.manifest["counts"]};
}

}  // namespace visrec::evaluate
