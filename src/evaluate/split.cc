#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "visrec/artifact/contracts.h"
#include "visrec/artifact/csv.h"
#include "visrec/evaluate/evaluate.h"
#include "visrec/util/errors.h"
#include "visrec/util/options.h"
#include "visrec/util/sha256.h"

namespace visrec::evaluate {

void SplitOptions::Validate() const {
  if (interactions.empty()) throw UsageError("split: --interactions is required");
  CheckRange("split: --test-fraction", test_fraction, 0, 1);
  if (method == SplitMethod::kRandom && !(test_fraction > 0 && test_fraction < 1))
    throw UsageError("split: --test-fraction must be in (0, 1)");
  CheckRange("split: --max-bad-rows-fraction", max_bad_rows_fraction, 0, 1);
}

namespace {

// Rows kept as numbers as they are parsed (a string per field of tens of millions of rows does not
// fit in memory; the file's bytes are still read whole); the lines are formatted again only when
// written, exactly as before.
struct Row {
  int32_t user, item;
  double weight, timestamp;
  int64_t line;
  bool has_timestamp;
};

struct SplitRows {
  Interactions summary;  // header flags and skipped rows
  std::vector<Row> rows;
  std::vector<std::string> user_names, item_names;
};

SplitRows ReadRows(const SplitOptions& o) {
  SplitRows out;
  std::unordered_map<std::string, int32_t> user_index, item_index;
  const auto number = [](std::unordered_map<std::string, int32_t>& index, std::vector<std::string>& names,
                         std::string& s) {
    const auto [it, added] = index.try_emplace(s, int32_t(names.size()));
    if (added) names.push_back(std::move(s));
    return it->second;
  };
  out.summary = StreamInteractions(o.interactions, o.bad_rows, [&](Interaction& x) {
    out.rows.push_back({number(user_index, out.user_names, x.user_id), number(item_index, out.item_names, x.item_id),
                        x.weight, x.timestamp, x.line, x.has_timestamp});
  });
  return out;
}

// Per user (in id order), every row of the latest (item) goes to test, the rest to train, each in
// file order; users with a single item stay in train.
void LeaveLastOut(const SplitRows& d, std::vector<int64_t>& train, std::vector<int64_t>& test) {
  const std::vector<Row>& rows = d.rows;
  std::vector<int64_t> start(d.user_names.size() + 1, 0);
  for (const Row& r : rows) ++start[size_t(r.user) + 1];
  for (size_t u = 0; u < d.user_names.size(); ++u) start[u + 1] += start[u];
  std::vector<int64_t> by_user(rows.size());
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (size_t q = 0; q < rows.size(); ++q) by_user[size_t(fill[size_t(rows[q].user)]++)] = int64_t(q);
  std::vector<int32_t> user_order(d.user_names.size());
  for (size_t u = 0; u < user_order.size(); ++u) user_order[u] = int32_t(u);
  std::sort(user_order.begin(), user_order.end(),
            [&](int32_t a, int32_t b) { return d.user_names[size_t(a)] < d.user_names[size_t(b)]; });
  for (const int32_t u : user_order) {
    const int64_t* first = by_user.data() + start[size_t(u)];
    const int64_t* end = by_user.data() + start[size_t(u) + 1];
    const Row* last = &rows[size_t(*first)];
    for (const int64_t* q = first; q < end; ++q) {
      const Row& r = rows[size_t(*q)];
      if (r.timestamp > last->timestamp || (r.timestamp == last->timestamp && r.line > last->line)) last = &r;
    }
    const bool single = std::all_of(first, end, [&](int64_t q) { return rows[size_t(q)].item == last->item; });
    for (const int64_t* q = first; q < end; ++q)
      (!single && rows[size_t(*q)].item == last->item ? test : train).push_back(*q);
  }
}

}  // namespace

StageResult RunSplit(const SplitOptions& o, const RunContext& ctx) {
  o.Validate();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ArtifactInput> inputs{FileInput("interactions", o.interactions)};
  json params{{"method", ChoiceName(o.method)}, {"bad_rows", o.bad_rows == BadRowPolicy::kSkip ? "skip" : "fail"}};
  if (o.method == SplitMethod::kRandom) {
    params["test_fraction"] = o.test_fraction;
    params["seed"] = o.seed;
  }
  const std::string key = ComputeArtifactKey("split", kSplitStageVersion, params, inputs);
  if (auto up = FindUpToDate(ctx, "split", key)) return *up;
  const SplitRows d = ReadRows(o);
  const Interactions& in = d.summary;
  RequireUsableShare(o.interactions.string(), in.data_rows, int64_t(in.issues.size()), IssueExamples(in.issues, 3),
                     o.max_bad_rows_fraction);
  std::vector<int64_t> train, test;  // row numbers, in the order they are written
  if (o.method == SplitMethod::kLeaveLastOut) {
    if (!in.has_timestamp)
      throw InputError(o.interactions.string() + ": leave-last-out needs a timestamp column; use --split random");
    RequireTimestampOnEveryRow(in, "leave-last-out", "use --split random");
    LeaveLastOut(d, train, test);
  } else {
    std::mt19937_64 g(o.seed);
    for (size_t q = 0; q < d.rows.size(); ++q)
      ((double(g() >> 11) * 0x1.0p-53) < o.test_fraction ? test : train).push_back(int64_t(q));
  }
  if (test.empty())
    throw InputError(o.interactions.string() + ": the " + ChoiceName(o.method) +
                     " split leaves no interaction to test (" + std::to_string(d.rows.size()) +
                     " rows; leave-last-out needs users with at least two items)" +
                     "; evaluation would score nobody. Use more data" +
                     (o.method == SplitMethod::kRandom ? std::string(" or a larger --test-fraction") : std::string()));
  ArtifactBuilder b(ctx.workdir, "split", kSplitStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  const std::string header = InteractionsHeader(in.has_weight, in.has_timestamp);
  for (const std::vector<int64_t>* part : {&train, &test}) {
    WriteLinesInParallel(b.Path(part == &train ? "train.csv" : "test.csv"), header, int64_t(part->size()), ctx.threads,
                         [&](int64_t i, std::string& out) {
                           const Row& r = d.rows[size_t((*part)[size_t(i)])];
                           AppendInteractionLine(out, d.user_names[size_t(r.user)], d.item_names[size_t(r.item)],
                                                 r.weight, r.timestamp, r.has_timestamp, in.has_weight,
                                                 in.has_timestamp);
                         });
  }
  b.AddOutput("train.csv");
  b.AddOutput("test.csv");
  b.counts() = contract::SplitSummary{int64_t(train.size()), int64_t(test.size()), int64_t(in.issues.size())}.ToJson();
  if (!in.issues.empty()) b.extra()["skipped_rows"] = IssueList(in.issues);
  b.SetTiming("total", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  Artifact a = b.Commit();
  spdlog::info("split ({}): {} train / {} test interactions -> {}", ChoiceName(o.method), train.size(), test.size(),
               a.dir.string());
  return StageResult{a, false, 0};
}

}  // namespace visrec::evaluate
