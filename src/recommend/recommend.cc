#include "visrec/recommend/recommend.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "visrec/core/csv.h"
#include "visrec/core/errors.h"
#include "visrec/core/fs.h"
#include "visrec/core/npy.h"
#include "visrec/core/numfmt.h"
#include "visrec/core/options.h"
#include "visrec/core/sha256.h"
#include "visrec/core/version.h"
#include "visrec/recommend/similarity.h"
#include "hybrid.h"

namespace visrec::recommend {
namespace {
using namespace internal;

constexpr const char* kStage = "recommend";
const char* const kSourceName[3] = {"collaborative", "visual", "text"};

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') { if (!cur.empty()) out.push_back(cur); cur.clear(); }
    else if (c != ' ') cur.push_back(c);
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A user's history: item -> (summed weight, latest timestamp), for `explain`.
using History = std::map<int32_t, std::pair<double, double>>;


using Clock = std::chrono::steady_clock;
using Phases = std::vector<std::pair<std::string, double>>;

std::string ListFile(int source, const char* what) { return std::string("lists_") + kSourceName[source] + "_" + what + ".npy"; }

void RecordTimings(ArtifactBuilder& b, const Phases& phases, double total) {
  b.SetTiming("total", total);
  std::string by_phase;
  for (const auto& [phase, seconds] : phases) {
    b.SetTiming(phase, seconds);
    by_phase += (by_phase.empty() ? "" : ", ") + phase + " " + FormatFixed(seconds, 2) + " s";
  }
  spdlog::debug("recommend: time by phase: {}", by_phase);
}

// `recommend --shard i/N`: the shard's items' neighbour lists of every source, up to `neighbors`
// each (-1 / 0 padded), rows in universe order; the whole universe's ids for the merge to check.
StageResult WriteShardLists(const RecommendOptions& o, const RunContext& ctx, const json& params,
                            const std::vector<ArtifactInput>& inputs, const std::string& lists_key,
                            const std::vector<std::string>& ids, const std::vector<char>& own, const TopK (&sims)[3],
                            const json& visual_index, bool has_text, const Phases& phases, const json& peak_rss_mb,
                            Clock::time_point t0) {
  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  b.set_pointer(ctx.shard.Pointer());
  std::vector<int32_t> rows;
  for (size_t i = 0; i < own.size(); ++i)
    if (own[i]) rows.push_back(int32_t(i));
  const int64_t m = int64_t(rows.size()), nb = o.neighbors;
  WriteNpy(b.Path("shard_items.npy"), DType::kI32, {m}, rows.data());
  b.AddOutput("shard_items.npy");
  std::vector<int32_t> idx(size_t(m * nb));
  std::vector<float> score(size_t(m * nb));
  for (int s = 0; s < 3; ++s) {
    std::fill(idx.begin(), idx.end(), -1);
    std::fill(score.begin(), score.end(), 0.f);
    for (int64_t q = 0; q < m; ++q) {
      const auto& list = sims[s][size_t(rows[size_t(q)])];
      for (size_t r = 0; r < list.size() && int64_t(r) < nb; ++r) {
        idx[size_t(q * nb) + r] = list[r].item;
        score[size_t(q * nb) + r] = list[r].score;
      }
    }
    WriteNpy(b.Path(ListFile(s, "items")), DType::kI32, {m, nb}, idx.data());
    WriteNpy(b.Path(ListFile(s, "scores")), DType::kF32, {m, nb}, score.data());
    b.AddOutput(ListFile(s, "items"));
    b.AddOutput(ListFile(s, "scores"));
  }
  WriteLines(b.Path("ids.txt"), ids);
  b.AddOutput("ids.txt");
  b.counts() = {{"items", ids.size()}, {"shard_items", m}, {"text_similarity", has_text}};
  b.extra()["lists_key"] = lists_key;  // inputs and list parameters, which the merge must match
  b.extra()["visual_index"] = visual_index;
  b.extra()["peak_rss_mb"] = peak_rss_mb;
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  RecordTimings(b, phases, secs);
  Artifact a = b.Commit();
  spdlog::info("recommend: shard {}: neighbour lists of {} of {} items -> {}; when all {} shards are done, run "
               "`visrec recommend --merge-shards {}` with the same inputs and list flags", ctx.shard.Text(), m, ids.size(),
               a.dir.string(), ctx.shard.count, ctx.shard.count);
  return StageResult{a, false, secs, a.manifest["counts"]};
}

// The parameters the neighbour lists depend on: a shard's identity. The others (top-K, weights,
// blend, recency, stored scoring) shape only scoring and outputs, so changing them reruns the merge
// alone.
json ListParams(const json& params) {
  json p = params;
  for (const char* k : {"k", "similar_k", "w_cf", "w_visual", "w_text", "blend", "store_scoring", "half_life_days"}) p.erase(k);
  return p;
}

// What differs between a shard's manifest and this merge: the list parameters and inputs, named.
std::string ShardDifferences(const json& manifest, const json& list_params, const std::vector<ArtifactInput>& inputs) {
  std::vector<std::string> diffs;
  json theirs = manifest.value("params", json::object());
  theirs.erase("shard");
  for (const auto& [name, value] : list_params.items())
    if (!theirs.contains(name) || theirs[name] != value)
      diffs.push_back(name + " " + (theirs.contains(name) ? theirs[name].dump() : std::string("unset")) + " (merge: " + value.dump() + ")");
  for (const auto& [name, value] : theirs.items())
    if (!list_params.contains(name)) diffs.push_back(name + " " + value.dump() + " (merge: unset)");
  std::map<std::string, std::string> their_inputs;
  for (const auto& in : manifest.value("inputs", json::array()))
    if (in.is_object()) their_inputs[in.value("role", "")] = in.value("digest", "");
  for (const auto& in : inputs) {
    const auto it = their_inputs.find(in.role);
    if (it == their_inputs.end()) diffs.push_back("no " + in.role + " input (merge: " + in.path + ")");
    else if (it->second != in.digest) diffs.push_back("another " + in.role + " (merge: " + in.path + ")");
    their_inputs.erase(in.role);
  }
  for (const auto& [role, digest] : their_inputs) diffs.push_back("a " + role + " input the merge does not have");
  std::string out;
  for (const auto& d : diffs) out += (out.empty() ? "" : "; ") + d;
  return out.empty() ? "its recorded lists key differs" : out;
}

// `recommend --merge-shards N`: every shard's lists into `sims`, after checking each shard (present;
// a recommend shard artifact of this stage version, made by this visrec build, from the same inputs
// and list parameters, over the same items; every output's sha256; each item in exactly the shard
// that owns it; lists well formed). Every problem of every shard is reported at once. Returns the
// manifest's visual_index record.
json GatherShardLists(int count, const fs::path& workdir, const std::string& lists_key, const json& list_params,
                      const std::vector<ArtifactInput>& inputs, const std::vector<std::string>& ids, int neighbors,
                      TopK (&sims)[3], json& merged_from) {
  const int64_t n = int64_t(ids.size());
  for (auto& s : sims) s.assign(size_t(n), {});
  std::vector<int32_t> owner(size_t(n), -1);
  std::vector<int64_t> stamp(size_t(n), -1);  // duplicate neighbours within one list
  std::set<std::string> kernels;
  std::vector<std::string> problems;
  const std::string build = VisrecVersion() + " (" + GitSha() + ")";
  for (int k = 0; k < count; ++k) {
    const ShardSpec spec{k, count};
    std::error_code ec;
    if (!fs::exists(workdir / kStage / spec.Pointer(), ec)) continue;  // named below
    const std::string rerun = "rerun `visrec recommend --shard " + spec.Text() + " --force` with the merge's inputs and list flags";
    const auto problem = [&](const std::string& what) { problems.push_back("shard " + spec.Text() + ": " + what); };
    try {
      const Artifact a = OpenLatest(workdir, kStage, VerifyLevel::kFull, spec.Pointer());
      const json& m = a.manifest;
      const json& params = m.contains("params") && m["params"].is_object() ? m["params"] : json::object();
      const json& extra = m.contains("extra") && m["extra"].is_object() ? m["extra"] : json::object();
      const json& producer = m.contains("producer") && m["producer"].is_object() ? m["producer"] : json::object();
      if (a.stage != kStage || params.value("shard", "") != spec.Text() || !extra.contains("lists_key")) {
        problem(a.dir.string() + " is not a recommend shard " + spec.Text() + " artifact; " + rerun);
        continue;
      }
      if (m.value("stage_version", 0) != kStageVersion) {
        problem(a.dir.string() + " has recommend stage version " + std::to_string(m.value("stage_version", 0)) + ", this visrec " +
                std::to_string(kStageVersion) + "; " + rerun);
        continue;
      }
      const std::string theirs = producer.value("visrec", "?") + " (" + producer.value("git_sha", "?") + ")";
      if (theirs != build) {
        problem("made by visrec " + theirs + ", the merge is " + build + "; every shard and the merge must run the same build; " + rerun);
        continue;
      }
      if (extra.value("lists_key", "") != lists_key) {
        problem("made with other inputs or list flags: " + ShardDifferences(m, list_params, inputs) + "; " + rerun);
        continue;
      }
      if (ReadLines(a.File("ids.txt")) != ids) {
        problem(a.dir.string() + " lists other items than the merge sees; " + rerun);
        continue;
      }
      const auto rows = a.ReadArray<int32_t>("shard_items.npy");
      const int64_t m_rows = rows.shape.empty() ? 0 : rows.shape[0];
      bool ok = true;
      for (int64_t q = 0; q < m_rows && ok; ++q) {
        const int32_t row = rows.data[size_t(q)];
        if (row < 0 || row >= n) {
          problem("names item row " + std::to_string(row) + ", out of range; " + rerun);
          ok = false;
        } else if (owner[size_t(row)] >= 0) {
          problem("item '" + ids[size_t(row)] + "' is listed " +
                  (owner[size_t(row)] == k ? std::string("twice") : "also by shard " + std::to_string(owner[size_t(row)])) + "; " + rerun);
          ok = false;
        } else if (!spec.Owns(ids[size_t(row)])) {
          problem("holds item '" + ids[size_t(row)] + "', which belongs to another shard; " + rerun);
          ok = false;
        } else {
          owner[size_t(row)] = k;
        }
      }
      for (int s = 0; s < 3 && ok; ++s) {
        const auto items = a.ReadArray<int32_t>(ListFile(s, "items"));
        const auto scores = a.ReadArray<float>(ListFile(s, "scores"));
        if (items.shape != std::vector<int64_t>{m_rows, neighbors} || scores.shape != items.shape) {
          problem("its " + std::string(kSourceName[s]) + " lists are not one row of --neighbors " + std::to_string(neighbors) +
                  " per shard item; " + rerun);
          ok = false;
          break;
        }
        for (int64_t q = 0; q < m_rows && ok; ++q) {
          const int32_t row = rows.data[size_t(q)];
          auto& list = sims[s][size_t(row)];
          bool padding = false;
          for (int64_t r = 0; r < neighbors && ok; ++r) {
            const int32_t j = items.data[size_t(q * neighbors + r)];
            const float score = scores.data[size_t(q * neighbors + r)];
            const Neighbor nb{j, score};
            // Lists are best first, unique, -1 padded at the end only.
            if (j == -1) { padding = true; continue; }
            const bool bad = padding || j < 0 || j >= n || j == row || !std::isfinite(score) ||
                             stamp[size_t(j)] == row * 3 + s || (!list.empty() && list.back().score < score);
            if (bad) {
              problem("its " + std::string(kSourceName[s]) + " list of item '" + ids[size_t(row)] +
                      "' is malformed at rank " + std::to_string(r + 1) + "; " + rerun);
              ok = false;
              break;
            }
            stamp[size_t(j)] = row * 3 + s;
            list.push_back(nb);
          }
        }
      }
      if (!ok) continue;
      merged_from.push_back(a.dir.filename().string());
      kernels.insert(extra.contains("visual_index") && extra["visual_index"].is_object() ? extra["visual_index"].value("kernel", "") : "");
    } catch (const Error& e) {  // unreadable or damaged: named with its shard and the fix
      problem(std::string(e.what()) + "; " + rerun);
    }
  }
  if (const std::string text = MissingShardsText(workdir, kStage, count); !text.empty()) problems.insert(problems.begin(), text);
  if (problems.empty())
    for (int64_t i = 0; i < n; ++i)
      if (owner[size_t(i)] < 0) {
        problems.push_back("item '" + ids[size_t(i)] + "' is in none of the " + std::to_string(count) +
                           " shards' lists (were they run with another N?); rerun its shard");
        break;
      }
  if (!problems.empty()) {
    std::string text;
    for (size_t q = 0; q < problems.size() && q < 12; ++q) text += "\n  " + problems[q];
    if (problems.size() > 12) text += "\n  ... and " + std::to_string(problems.size() - 12) + " more";
    throw ArtifactError("recommend: cannot merge " + std::to_string(count) + " shards:" + text);
  }
  std::string kernel;
  for (const auto& k : kernels) kernel += (kernel.empty() ? "" : ",") + k;
  if (kernels.size() > 1)
    spdlog::warn("recommend: the shards ran different visual kernels ({}); their lists can differ from one run's in the "
                 "last bits of a score (README: Sharding)", kernel);
  return json{{"kind", "exact"}, {"kernel", kernel}};
}
}  // namespace

void RecommendOptions::Validate() const {
  if (k < 1 || k > 10000) throw UsageError("recommend: --k must be in [1, 10000]");
  if (similar_k < 1 || similar_k > 10000) throw UsageError("recommend: --similar-k must be in [1, 10000]");
  if (neighbors < 1 || neighbors > 100000) throw UsageError("recommend: --neighbors must be in [1, 100000]");
  CheckRange("recommend: --w-cf", w_cf, 0, 1e6);
  CheckRange("recommend: --w-visual", w_visual, 0, 1e6);
  CheckRange("recommend: --w-text", w_text, 0, 1e6);
  if (w_cf + w_visual + w_text <= 0) throw UsageError("recommend: blend weights must not all be zero");
  CheckRange("recommend: --shrink", shrink, 0, 1e12);
  if (min_support < 1) throw UsageError("recommend: --min-support must be >= 1");
  CheckRange("recommend: --half-life-days", half_life_days, 0, 1e7);
  if (memory_budget_mb < 1) throw UsageError("recommend: --memory-budget-mb must be >= 1");
  if (visual_index != "exact" && visual_index != "hnsw") throw UsageError("recommend: --visual-index must be exact|hnsw");
  if (hnsw_m < 4 || hnsw_m > 256) throw UsageError("recommend: --hnsw-m must be in [4, 256]");
  if (hnsw_ef_construction < 8 || hnsw_ef_search < 1) throw UsageError("recommend: --hnsw-ef-construction >= 8, --hnsw-ef-search >= 1");
  if (recall_sample < 1) throw UsageError("recommend: --recall-sample must be >= 1");
  CheckRange("recommend: --min-recall", min_recall, 0, 1);
  CheckRange("recommend: --max-bad-rows-fraction", max_bad_rows_fraction, 0, 1);
  if (blend_grid.empty() || blend_grid.size() > 12) throw UsageError("recommend: --blend-grid needs 1 to 12 values");
  for (double g : blend_grid) CheckRange("recommend: --blend-grid", g, 0, 1e6);
  for (size_t a = 0; a < blend_grid.size(); ++a)
    for (size_t b = a + 1; b < blend_grid.size(); ++b)
      if (blend_grid[a] == blend_grid[b])
        throw UsageError("recommend: --blend-grid names " + FormatFixed(blend_grid[a], 3) + " twice; list each value once");
  if (blend_users < 0) throw UsageError("recommend: --blend-users must be >= 0 (0 = every eligible user)");
  if (merge_shards < 0 || merge_shards > 100000)
    throw UsageError("recommend: --merge-shards N needs 1 <= N <= 100000 (the N of the shards' --shard i/N)");
}

StageResult Run(const RecommendOptions& o, const RunContext& ctx) {
  o.Validate();
  auto t0 = std::chrono::steady_clock::now();
  // Seconds per phase, into the manifest's timings and the debug log (-v): where a run's time went.
  std::vector<std::pair<std::string, double>> phases;
  json peak_rss_mb = json::object();  // the process's peak RSS at the end of each phase
  auto lap_start = t0;
  const auto lap = [&](const char* phase) {
    const auto now = std::chrono::steady_clock::now();
    phases.push_back({phase, std::chrono::duration<double>(now - lap_start).count()});
    peak_rss_mb[phase] = PeakRssBytes() >> 20;
    lap_start = now;
  };
  const int threads = ResolveThreads(ctx.threads);
  Artifact red = o.reduce.empty() ? OpenLatest(ctx.workdir, "reduce") : OpenArtifact(o.reduce);
  if (red.stage != "reduce") throw ArtifactError("recommend: '" + red.dir.string() + "' is not a reduce artifact");
  const bool have_interactions = !o.interactions.empty();
  std::vector<ArtifactInput> inputs{red.AsInput("reduce")};
  if (have_interactions)
    inputs.push_back({"interactions", "file", fs::absolute(o.interactions).lexically_normal().string(),
                      Sha256File(o.interactions)});
  if (!o.catalog.empty())
    inputs.push_back({"catalog", "file", fs::absolute(o.catalog).lexically_normal().string(), Sha256File(o.catalog)});
  json params{{"k", o.k}, {"similar_k", o.similar_k}, {"neighbors", o.neighbors}, {"w_cf", o.w_cf},
              {"w_visual", o.w_visual}, {"w_text", o.w_text}, {"shrink", o.shrink}, {"min_support", o.min_support},
              {"half_life_days", o.half_life_days}, {"store_scoring", o.store_scoring}, {"text_columns", o.catalog.empty() ? "" : o.text_columns},
              {"bad_rows", o.bad_rows == BadRowPolicy::kSkip ? "skip" : "fail"},
              {"duplicates", "same (user, item) rows: weights summed, latest timestamp kept"},
              {"visual_index", o.visual_index}};
  if (!have_interactions) params["interactions"] = "none: similar items only";
  // The fixed weights stay in the key in auto mode too: they are what a failed tuning falls back to.
  if (o.blend == BlendMode::kAuto)
    params["blend"] = {{"mode", "auto"}, {"grid", o.blend_grid}, {"seed", o.blend_seed}, {"users", o.blend_users}};
  if (o.visual_index == "hnsw") {
    params["hnsw"] = {{"m", o.hnsw_m}, {"ef_construction", o.hnsw_ef_construction}, {"ef_search", o.hnsw_ef_search}};
    if (!HaveFaiss()) HnswCosineTopK(nullptr, 0, 0, 1, {}, 1);  // the clear "built without Faiss" error, before any work
  }
  // Sharded: a shard (--shard i/N) computes the neighbour lists of its own items (stable by id hash)
  // against all items and writes them as a shard artifact under its own pointer; --merge-shards N
  // checks and gathers them and does the rest. The merged artifact has the unsharded run's key and
  // the same outputs, so either way of making it is up to date for the other.
  const bool shard_run = ctx.shard.active(), merging = o.merge_shards > 1;  // one shard is a whole run
  if (shard_run && merging) throw UsageError("recommend: give --shard i/N to each shard and --merge-shards N to the merge, not both");
  if ((shard_run || merging) && o.visual_index != "exact")
    throw UsageError("recommend: --shard and --merge-shards compute exact visual neighbours (each shard searches its own "
                     "items against all, the same lists as one run); drop --visual-index " + o.visual_index);
  const std::string key = ComputeArtifactKey(kStage, kStageVersion, params, inputs);
  const json list_params = ListParams(params);
  const std::string lists_key = ComputeArtifactKey(kStage, kStageVersion, list_params, inputs);
  json shard_params = list_params;
  if (shard_run) shard_params["shard"] = ctx.shard.Text();
  const std::string own_key = shard_run ? ComputeArtifactKey(kStage, kStageVersion, shard_params, inputs) : key;
  if (auto up = FindUpToDate(ctx, kStage, own_key)) return *up;
  lap("inputs");

  // ---- item universe: items with visual vectors, plus catalog items ----
  auto vec = red.ReadArray<float>("reduced_l2.npy");
  std::vector<std::string> vec_ids = ReadLines(red.File("ids.txt"));
  if (int64_t(vec_ids.size()) != vec.rows()) throw ArtifactError("recommend: ids.txt and reduced_l2.npy disagree in " + red.dir.string());
  std::optional<Catalog> cat;
  if (!o.catalog.empty()) cat = ReadCatalog(o.catalog, o.bad_rows);
  // Text columns named on purpose must exist; the default "title" quietly drops out without one.
  std::vector<std::string> text_columns;
  if (cat) {
    for (const auto& c : SplitComma(o.text_columns)) {
      if (std::find(cat->columns.begin(), cat->columns.end(), c) != cat->columns.end()) {
        text_columns.push_back(c);
      } else if (o.text_columns != RecommendOptions{}.text_columns) {
        std::string known;
        for (const auto& k : cat->columns) known += (known.empty() ? "" : ", ") + k;
        throw UsageError("recommend: --text-columns names '" + c + "', which " + o.catalog.string() +
                         " does not have (its columns: " + known + ")");
      } else {
        spdlog::info("recommend: the catalog has no '{}' column; no text similarity", c);
      }
    }
  }
  std::set<std::string> uni(vec_ids.begin(), vec_ids.end());
  if (cat) uni.insert(cat->item_ids.begin(), cat->item_ids.end());
  std::vector<std::string> ids(uni.begin(), uni.end());
  const int32_t n = int32_t(ids.size());
  std::unordered_map<std::string, int32_t> index;
  for (int32_t i = 0; i < n; ++i) index[ids[size_t(i)]] = i;

  lap("items");
  // ---- interactions ----
  int64_t unknown_items = 0;
  std::vector<std::string> unknown_examples;
  FlatHistories hist;
  Interactions inter;  // the read's summary; rows are taken as they stream by
  {
    // Users numbered in order of first appearance, then renumbered in id order.
    std::unordered_map<std::string, int32_t> user_number;
    std::vector<std::string> seen_users;
    struct Row {
      int32_t user, item;
      double weight, timestamp;
    };
    std::vector<Row> rows;
    if (have_interactions) inter = StreamInteractions(o.interactions, o.bad_rows, [&](Interaction& x) {
      // A user whose rows all name unknown items still exists and gets (fallback) recommendations.
      const auto [u, added] = user_number.try_emplace(x.user_id, int32_t(seen_users.size()));
      if (added) seen_users.push_back(x.user_id);
      auto it = index.find(x.item_id);
      if (it == index.end()) {
        ++unknown_items;
        if (unknown_examples.size() < 3) unknown_examples.push_back("line " + std::to_string(x.line) + ": item '" + x.item_id + "'");
        return;
      }
      rows.push_back({u->second, it->second, x.weight, x.timestamp});
    });
    if (have_interactions) {
      // "Zero is suspicious": a file whose rows are all (or mostly) unusable is an error, not 0 users.
      std::vector<std::string> examples = IssueExamples(inter.issues, 3);
      for (auto& e : unknown_examples) examples.push_back(e);
      RequireUsableShare(o.interactions.string(), inter.data_rows, int64_t(inter.issues.size()) + unknown_items, examples,
                         o.max_bad_rows_fraction);
      if (o.half_life_days > 0) RequireTimestampOnEveryRow(inter, "--half-life-days", "drop --half-life-days");
    }
    lap("read_interactions");
    std::vector<int32_t> by_id(seen_users.size());
    for (size_t u = 0; u < by_id.size(); ++u) by_id[u] = int32_t(u);
    std::sort(by_id.begin(), by_id.end(), [&](int32_t a, int32_t b) { return seen_users[size_t(a)] < seen_users[size_t(b)]; });
    std::vector<int32_t> rank(seen_users.size());
    hist.users.reserve(seen_users.size());
    for (size_t r = 0; r < by_id.size(); ++r) {
      rank[size_t(by_id[r])] = int32_t(r);
      hist.users.push_back(std::move(seen_users[size_t(by_id[r])]));
    }
    // Rows ordered by (user, item), stably: a (user, item) pair's duplicate rows stay in file order,
    // so their weights are summed in the same order as ever (duplicates: weights summed, latest
    // timestamp kept). A counting sort by user (linear in rows), then each user's few rows by item:
    // one stable sort of all rows cost n log n over memory far larger than the caches.
    {
      std::vector<int64_t> at(seen_users.size() + 1, 0);
      for (Row& r : rows) {
        r.user = rank[size_t(r.user)];
        ++at[size_t(r.user) + 1];
      }
      for (size_t u = 0; u < seen_users.size(); ++u) at[u + 1] += at[u];
      std::vector<Row> by_user(rows.size());
      std::vector<int64_t> fill(at.begin(), at.end() - 1);
      for (const Row& r : rows) by_user[size_t(fill[size_t(r.user)]++)] = r;
      rows = std::move(by_user);
      // Each user's rows by item, stably: an insertion sort (a user's rows are few; std::stable_sort
      // allocated a buffer per user).
      for (size_t u = 0; u < seen_users.size(); ++u)
        for (int64_t q = at[u] + 1; q < at[u + 1]; ++q) {
          const Row r = rows[size_t(q)];
          int64_t p = q;
          for (; p > at[u] && rows[size_t(p - 1)].item > r.item; --p) rows[size_t(p)] = rows[size_t(p - 1)];
          rows[size_t(p)] = r;
        }
    }
    hist.start.assign(hist.users.size() + 1, 0);
    hist.entries.reserve(rows.size());
    for (size_t q = 0; q < rows.size(); ++q) {
      const Row& r = rows[q];
      if (q == 0 || r.user != rows[q - 1].user || r.item != rows[q - 1].item)
        hist.entries.push_back({r.item, {0.0, 0.0}});
      auto& wt = hist.entries.back().second;
      wt.first += r.weight;
      wt.second = std::max(wt.second, r.timestamp);
      hist.start[size_t(r.user) + 1] = int64_t(hist.entries.size());
    }
    for (size_t u = 1; u < hist.start.size(); ++u) hist.start[u] = std::max(hist.start[u], hist.start[u - 1]);
  }
  if (unknown_items)
    spdlog::warn("recommend: {} interaction(s) name items not in the catalog/features and were skipped, e.g. {}",
                 unknown_items, [&] { std::string s; for (auto& e : unknown_examples) s += (s.empty() ? "" : "; ") + e; return s; }());
  const std::vector<std::string>& users = hist.users;

  lap("histories");
  // ---- similarities ----
  SparseRows ui;
  ui.n_items = n;
  ui.Reserve(int64_t(users.size()), int64_t(hist.entries.size()));
  std::vector<double> popularity(size_t(n), 0.0);
  std::vector<std::pair<int32_t, float>> e;
  for (size_t u = 0; u < users.size(); ++u) {
    e.clear();
    for (auto& [i, wt] : hist[u]) { e.push_back({i, float(wt.first)}); popularity[size_t(i)] += 1; }
    if (!e.empty()) ui.AddRow(e);
  }
  TopK sims[3];
  // A shard's own items (ids in universe order), flagged.
  std::vector<char> own(shard_run ? size_t(n) : 0, 0);
  for (size_t i = 0; i < own.size(); ++i) own[i] = ctx.shard.Owns(ids[i]);
  const std::vector<char>* only = shard_run ? &own : nullptr;
  json visual_index{{"kind", o.visual_index}};
  json merged_from = json::array();
  if (merging) {
    visual_index = GatherShardLists(o.merge_shards, ctx.workdir, lists_key, list_params, inputs, ids, o.neighbors, sims, merged_from);
    lap("gather_shards");
  } else {
  sims[kCf] = SparseCosineTopK(ui, o.neighbors, o.shrink, o.min_support, threads, only);
  lap("collaborative");
  {
    TopK v;
    if (o.visual_index == "hnsw") {
      auto tv = std::chrono::steady_clock::now();
      HnswOptions h;
      h.m = o.hnsw_m;
      h.ef_construction = o.hnsw_ef_construction;
      h.ef_search = o.hnsw_ef_search;
      v = HnswCosineTopK(vec.data.data(), vec.rows(), vec.cols(), o.neighbors, h, threads);
      const double build_search = std::chrono::duration<double>(std::chrono::steady_clock::now() - tv).count();
      const int k_check = std::min<int64_t>(o.neighbors, std::max<int64_t>(1, vec.rows() - 1));
      RecallCheck rc = RecallAgainstExact(v, vec.data.data(), vec.rows(), vec.cols(), k_check, o.recall_sample, 0);
      visual_index["recall_at_k"] = rc.recall;
      visual_index["k"] = k_check;
      visual_index["recall_sample_rows"] = rc.rows;
      visual_index["seconds"] = build_search;
      spdlog::info("recommend: visual neighbours by HNSW (m {}, ef_search {}) in {:.2f} s; recall@{} against exact search "
                   "on {} sampled items: {:.4f}", o.hnsw_m, o.hnsw_ef_search, build_search, k_check, rc.rows, rc.recall);
      if (rc.recall < o.min_recall)
        throw TooManyFailuresError("recommend: HNSW recall@" + std::to_string(k_check) + " " + FormatFixed(rc.recall, 4) +
                                   " is below --min-recall " + FormatFixed(o.min_recall, 4) +
                                   "; raise --hnsw-ef-search or --hnsw-m, or use --visual-index exact");
    } else {
      visual_index["kernel"] = o.neighbors > 0 ? DenseKernelInUse() : "none";
      if (shard_run) {
        std::vector<int64_t> query;  // the shard's items among the vectors' rows
        for (int64_t r = 0; r < vec.rows(); ++r)
          if (own[size_t(index[vec_ids[size_t(r)]])]) query.push_back(r);
        v = DenseCosineTopKRows(vec.data.data(), vec.rows(), vec.cols(), o.neighbors, &query, o.memory_budget_mb << 20, threads);
      } else {
        v = DenseCosineTopK(vec.data.data(), vec.rows(), vec.cols(), o.neighbors, o.memory_budget_mb << 20, threads);
      }
    }
    sims[kVisual].assign(size_t(n), {});
    for (size_t r = 0; r < v.size(); ++r) {
      auto& dst = sims[kVisual][size_t(index[vec_ids[r]])];
      for (auto nb : v[r]) dst.push_back({index[vec_ids[size_t(nb.item)]], nb.score});
    }
  }
  lap("visual");
  }
  if (!merging) sims[kText].assign(size_t(n), {});
  bool has_text = false;
  if (cat) {
    std::vector<std::string> texts(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
      auto m = cat->metadata.find(ids[size_t(i)]);
      if (m == cat->metadata.end()) continue;
      for (auto& c : text_columns) {
        auto f = m->second.find(c);
        if (f != m->second.end() && !f->second.empty()) { texts[size_t(i)] += f->second + " "; has_text = true; }
      }
    }
    if (has_text && !merging) sims[kText] = SparseCosineTopK(TfidfMatrix(texts), o.neighbors, 0.0, 1, threads, only);
  }
  if (!merging) lap("text");
  if (shard_run)
    return WriteShardLists(o, ctx, shard_params, inputs, lists_key, ids, own, sims, visual_index, has_text, phases,
                           peak_rss_mb, t0);
  double w[3] = {o.w_cf, o.w_visual, has_text ? o.w_text : 0.0};
  json blend{{"mode", o.blend == BlendMode::kAuto ? "auto" : "fixed"}};
  if (o.blend == BlendMode::kAuto) {
    BlendTuningInput tin;
    tin.histories = &hist;
    tin.visual = &sims[kVisual];
    tin.text = &sims[kText];
    tin.has_text = has_text;
    tin.n_items = n;
    tin.grid = o.blend_grid;
    tin.k = o.k;
    tin.neighbors = o.neighbors;
    tin.shrink = o.shrink;
    tin.min_support = o.min_support;
    tin.half_life_days = o.half_life_days;
    tin.seed = o.blend_seed;
    tin.max_users = o.blend_users;
    tin.threads = threads;
    const BlendTuning t = have_interactions ? TuneBlend(tin) : BlendTuning{};
    blend["validation"] = {{"users", t.validation_users}, {"eligible_users", t.eligible_users},
                           {"held_out", t.by_timestamp ? "each user's latest interaction (seeded pick among ties)"
                                                       : "a seeded random interaction per user (no timestamps)"},
                           {"metric", "ndcg@" + std::to_string(o.k)}, {"seconds", t.seconds}};
    if (t.chosen >= 0) {
      for (const auto& c : t.cells)
        blend["grid"].push_back({{"w_cf", c.w[kCf]}, {"w_visual", c.w[kVisual]}, {"w_text", c.w[kText]}, {"hr", c.hr}, {"ndcg", c.ndcg}});
      for (int s = 0; s < 3; ++s) w[s] = t.cells[size_t(t.chosen)].w[s];
      std::string table;
      for (const auto& c : t.cells)
        table += "\n  w_cf " + FormatFixed(c.w[kCf], 2) + "  w_visual " + FormatFixed(c.w[kVisual], 2) + "  w_text " +
                 FormatFixed(c.w[kText], 2) + "  HR@" + std::to_string(o.k) + " " + FormatFixed(c.hr, 4) + "  NDCG@" +
                 std::to_string(o.k) + " " + FormatFixed(c.ndcg, 4);
      spdlog::debug("recommend: blend grid on {} validation users:{}", t.validation_users, table);
      if (t.validation_users < 100)
        spdlog::warn("recommend: --blend auto tuned on only {} validation user(s); differences between blends that small "
                     "are mostly noise (compare runs with `visrec compare` before trusting the choice)", t.validation_users);
      spdlog::info("recommend: --blend auto chose w_cf {}, w_visual {}, w_text {} (validation NDCG@{} {} on {} users; {} cells "
                   "in {:.2f} s)", FormatFixed(w[kCf], 2), FormatFixed(w[kVisual], 2), FormatFixed(w[kText], 2), o.k,
                   FormatFixed(t.cells[size_t(t.chosen)].ndcg, 4), t.validation_users, t.cells.size(), t.seconds);
    } else {
      const std::string why = !have_interactions ? "no interactions to validate on"
                                                 : "no user has two or more history items to hold one out";
      blend["fallback"] = why + "; the fixed weights were used";
      spdlog::warn("recommend: --blend auto could not tune ({}); using the fixed weights w_cf {}, w_visual {}, w_text {}", why,
                   FormatFixed(w[kCf], 2), FormatFixed(w[kVisual], 2), FormatFixed(w[kText], 2));
    }
  }
  blend["w_cf"] = w[kCf];
  blend["w_visual"] = w[kVisual];
  blend["w_text"] = w[kText];
  if (o.blend == BlendMode::kAuto) lap("blend_tuning");

  // Hybrid neighbour lists: union of the sources' neighbours, blended scores, per-source parts kept.
  const HybridLists hybrid = BuildHybrid({&sims[kCf], &sims[kVisual], &sims[kText]}, w, n, o.neighbors, threads);

  // Popularity order for the fallback: users, then id.
  std::vector<int32_t> by_pop(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) by_pop[size_t(i)] = i;
  std::stable_sort(by_pop.begin(), by_pop.end(), [&](int32_t a, int32_t b) { return popularity[size_t(a)] > popularity[size_t(b)]; });

  lap("hybrid");
  // ---- per-user recommendations ----
  const int k = std::min<int>(o.k, n);
  // A recommendation and what its reason line is made of (formatted only when written: a string per
  // recommendation cost more memory than everything else at millions of users).
  enum class Why : uint8_t { kScored, kFill, kNoHistory, kNoSimilar };
  struct Rec {
    int32_t item;
    double score;
    Why why;
    int32_t because[2];  // the history items contributing most (-1: none)
    int32_t percent[3];  // each source's share of the score, for sources with weight > 0
  };
  std::vector<std::vector<Rec>> recs(users.size());
  std::vector<char> fallback_user(users.size(), 0);
  // Each worker keeps dense per-item accumulators, reset through a touched list; marks carry the
  // user's number, so nothing is cleared between users. (A hash map of candidates per user, each
  // with its own vector, spent most of the stage's time in malloc: 100k users x 20k items took 19 s.)
  struct Scratch {
    std::vector<double> total;
    std::vector<std::array<double, 3>> by_source;
    std::vector<int64_t> seen_by, touched_by;  // user number + 1 that saw / touched the item
    std::vector<int32_t> rank;                  // the item's place among this user's top k, or -1
    std::vector<int32_t> touched;
  };
  std::atomic<int64_t> next_user{0};
  ParallelFor(threads, threads, [&](int64_t) {
    Scratch z;
    z.total.assign(size_t(n), 0.0);
    z.by_source.assign(size_t(n), {0.0, 0.0, 0.0});
    z.seen_by.assign(size_t(n), 0);
    z.touched_by.assign(size_t(n), 0);
    z.rank.assign(size_t(n), -1);
    std::vector<std::pair<double, int32_t>> order;
    std::vector<double> weights;  // per history entry, computed once per user (a pow() with decay)
    std::vector<std::vector<std::pair<double, int32_t>>> by_history(static_cast<size_t>(k));
    for (int64_t ui_; (ui_ = next_user.fetch_add(1)) < int64_t(users.size());) {
      const FlatHistories::Slice h = hist[size_t(ui_)];
      const int64_t mark = ui_ + 1;
      const double t_last = LatestTimestamp(h);
      weights.clear();
      for (auto& [hi, wt] : h) {
        z.seen_by[size_t(hi)] = mark;  // seen items are never recommended
        weights.push_back(HistoryWeight(wt, t_last, o.half_life_days));
      }
      z.touched.clear();
      // History in ascending item order, neighbours in list order: each candidate's sums add the same
      // terms in the same order as ever, so scores are unchanged to the bit.
      for (size_t e = 0; e < h.size(); ++e) {
        const int32_t hi = h.begin()[e].first;
        const double weight = weights[e];
        for (const auto& nb : hybrid[size_t(hi)]) {
          const size_t j = size_t(nb.item);
          if (z.seen_by[j] == mark) continue;
          if (z.touched_by[j] != mark) {
            z.touched_by[j] = mark;
            z.touched.push_back(nb.item);
            z.total[j] = 0.0;
            z.by_source[j] = {0.0, 0.0, 0.0};
          }
          z.total[j] += weight * nb.score;
          for (int s = 0; s < 3; ++s) z.by_source[j][size_t(s)] += weight * nb.part[s];
        }
      }
      order.clear();
      for (int32_t j : z.touched)
        if (z.total[size_t(j)] > 0 && std::isfinite(z.total[size_t(j)])) order.push_back({z.total[size_t(j)], j});
      const auto ranked = [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
      const size_t winners = std::min(order.size(), size_t(k));
      std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(winners), order.end(), ranked);
      // The history items behind each winner, for its reason: a second pass over the same lists.
      for (size_t r = 0; r < winners; ++r) {
        z.rank[size_t(order[r].second)] = int32_t(r);
        by_history[r].clear();
      }
      if (winners > 0)
        for (size_t e = 0; e < h.size(); ++e) {
          const int32_t hi = h.begin()[e].first;
          const double weight = weights[e];
          for (const auto& nb : hybrid[size_t(hi)]) {
            const int32_t r = z.rank[size_t(nb.item)];
            if (r >= 0 && z.seen_by[size_t(nb.item)] != mark) by_history[size_t(r)].push_back({weight * nb.score, hi});
          }
        }
      auto& out = recs[size_t(ui_)];
      for (size_t r = 0; r < winners; ++r) {
        const auto [score, j] = order[r];
        z.rank[size_t(j)] = -1;
        auto& contributors = by_history[r];
        std::sort(contributors.begin(), contributors.end(), [&](auto& a, auto& b) {
          return a.first > b.first || (a.first == b.first && ids[size_t(a.second)] < ids[size_t(b.second)]);
        });
        Rec rec{j, score, Why::kScored, {-1, -1}, {0, 0, 0}};
        for (size_t q = 0; q < contributors.size() && q < 2; ++q) rec.because[q] = contributors[q].second;
        for (int s = 0; s < 3; ++s)
          if (w[s] > 0) rec.percent[s] = int(std::lround(100 * z.by_source[size_t(j)][size_t(s)] / score));
        out.push_back(rec);
      }
      if (int(out.size()) < k) {
        if (out.empty()) fallback_user[size_t(ui_)] = 1;
        std::set<int32_t> have;
        for (auto& r : out) have.insert(r.item);
        for (int32_t j : by_pop) {
          if (int(out.size()) >= k) break;
          if (z.seen_by[size_t(j)] == mark || have.count(j)) continue;
          const Why why = !fallback_user[size_t(ui_)] ? Why::kFill : h.empty() ? Why::kNoHistory : Why::kNoSimilar;
          out.push_back({j, 0.0, why, {-1, -1}, {0, 0, 0}});
        }
      }
    }
  });

  lap("users");
  // ---- outputs ----
  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  std::vector<int32_t> rec_idx(users.size() * size_t(k), -1);
  std::vector<float> rec_score(users.size() * size_t(k), 0.f);
  for (size_t u = 0; u < users.size(); ++u)
    for (size_t r = 0; r < recs[u].size(); ++r) {
      rec_idx[u * size_t(k) + r] = recs[u][r].item;
      rec_score[u * size_t(k) + r] = float(recs[u][r].score);
    }
  if (have_interactions)
    WriteLinesInParallel(b.Path("recommendations.csv"), "user_id,rank,item_id,score,reason\n", int64_t(users.size()), threads,
                         [&](int64_t u, std::string& out) {
      std::string reason;
      for (size_t r = 0; r < recs[size_t(u)].size(); ++r) {
        const Rec& x = recs[size_t(u)][r];
        switch (x.why) {
          case Why::kFill: reason = "popular (fill)"; break;
          case Why::kNoHistory: reason = "popular (no usable history)"; break;
          case Why::kNoSimilar: reason = "popular (no similar unseen items)"; break;
          case Why::kScored: {
            reason = "because of ";
            for (int q = 0; q < 2 && x.because[q] >= 0; ++q) (reason += q ? "+" : "") += ids[size_t(x.because[q])];
            reason += " (";
            bool first = true;
            for (int s = 0; s < 3; ++s) {
              if (w[s] <= 0) continue;
              ((reason += first ? "" : " ") += kSourceName[s]) += " " + std::to_string(x.percent[s]) + "%";
              first = false;
            }
            reason += ")";
            break;
          }
        }
        AppendCsvLine(out, {users[size_t(u)], std::to_string(r + 1), ids[size_t(x.item)], FormatFixed(x.score, 6), reason});
      }
    });
  WriteNpy(b.Path("rec_items.npy"), DType::kI32, {int64_t(users.size()), k}, rec_idx.data());
  WriteNpy(b.Path("rec_scores.npy"), DType::kF32, {int64_t(users.size()), k}, rec_score.data());
  const int sk = std::min(o.similar_k, std::max(1, n - 1));
  std::vector<int32_t> sim_idx(size_t(n) * size_t(sk), -1);
  std::vector<float> sim_score(size_t(n) * size_t(sk), 0.f);
  for (int32_t i = 0; i < n; ++i)
    for (size_t r = 0; r < hybrid[size_t(i)].size() && int(r) < sk; ++r) {
      sim_idx[size_t(i) * size_t(sk) + r] = hybrid[size_t(i)][r].item;
      sim_score[size_t(i) * size_t(sk) + r] = hybrid[size_t(i)][r].score;
    }
  WriteLinesInParallel(b.Path("similar_items.csv"), "item_id,rank,neighbor_id,score,source\n", n, threads,
                       [&](int64_t i, std::string& out) {
    for (size_t r = 0; r < hybrid[size_t(i)].size() && int(r) < sk; ++r) {
      const auto& nb = hybrid[size_t(i)][r];
      AppendCsvLine(out, {ids[size_t(i)], std::to_string(r + 1), ids[size_t(nb.item)], FormatFixed(nb.score, 6), "hybrid"});
    }
    for (int s = 0; s < 3; ++s)
      for (size_t r = 0; r < sims[s][size_t(i)].size() && int(r) < sk; ++r) {
        const auto& nb = sims[s][size_t(i)][r];
        AppendCsvLine(out, {ids[size_t(i)], std::to_string(r + 1), ids[size_t(nb.item)], FormatFixed(nb.score, 6), kSourceName[s]});
      }
  });
  WriteNpy(b.Path("similar_items.npy"), DType::kI32, {n, sk}, sim_idx.data());
  WriteNpy(b.Path("similar_scores.npy"), DType::kF32, {n, sk}, sim_score.data());
  // Each source's own lists too (`query --source`): the same rows as similar_items.csv's.
  for (int s = 0; s < 3; ++s) {
    std::fill(sim_idx.begin(), sim_idx.end(), -1);
    std::fill(sim_score.begin(), sim_score.end(), 0.f);
    for (int32_t i = 0; i < n; ++i)
      for (size_t r = 0; r < sims[s][size_t(i)].size() && int(r) < sk; ++r) {
        sim_idx[size_t(i) * size_t(sk) + r] = sims[s][size_t(i)][r].item;
        sim_score[size_t(i) * size_t(sk) + r] = sims[s][size_t(i)][r].score;
      }
    const std::string name = kSourceName[s];
    WriteNpy(b.Path("similar_items_" + name + ".npy"), DType::kI32, {n, sk}, sim_idx.data());
    WriteNpy(b.Path("similar_scores_" + name + ".npy"), DType::kF32, {n, sk}, sim_score.data());
    b.AddOutput("similar_items_" + name + ".npy");
    b.AddOutput("similar_scores_" + name + ".npy");
  }
  WriteLines(b.Path("ids.txt"), ids);
  WriteLines(b.Path("users.txt"), users);
  for (const char* f : {"rec_items.npy", "rec_scores.npy", "similar_items.csv", "similar_items.npy",
                        "similar_scores.npy", "ids.txt", "users.txt"})
    b.AddOutput(f);
  if (have_interactions) b.AddOutput("recommendations.csv");
  if (o.store_scoring) {
    // The exact neighbour lists the scores were summed over (hybrid, up to --neighbors per item) with
    // each source's weighted, normalized part: what `visrec explain` reads.
    const int nb = o.neighbors;
    std::vector<int32_t> nb_idx(size_t(n) * size_t(nb), -1);
    std::vector<float> nb_part(size_t(n) * size_t(nb) * 3, 0.f);
    for (int32_t i = 0; i < n; ++i)
      for (size_t r = 0; r < hybrid[size_t(i)].size(); ++r) {
        const auto& x = hybrid[size_t(i)][r];
        nb_idx[size_t(i) * size_t(nb) + r] = x.item;
        for (int s = 0; s < 3; ++s) nb_part[(size_t(i) * size_t(nb) + r) * 3 + size_t(s)] = x.part[s];
      }
    WriteNpy(b.Path("scoring_neighbors.npy"), DType::kI32, {n, nb}, nb_idx.data());
    WriteNpy(b.Path("scoring_parts.npy"), DType::kF32, {n, nb, 3}, nb_part.data());
    b.AddOutput("scoring_neighbors.npy");
    b.AddOutput("scoring_parts.npy");
  }
  int64_t fallback = 0, cold_items = 0, cold_recommended = 0;
  std::vector<char> recommended(size_t(n), 0);
  for (size_t u = 0; u < users.size(); ++u) {
    fallback += fallback_user[u];
    for (auto& r : recs[u]) recommended[size_t(r.item)] = 1;
  }
  for (int32_t i = 0; i < n; ++i)
    if (popularity[size_t(i)] == 0) { ++cold_items; cold_recommended += recommended[size_t(i)]; }
  b.counts() = {{"users", users.size()}, {"items", n}, {"items_with_vectors", vec_ids.size()},
                {"interactions", inter.accepted}, {"interactions_unknown_item", unknown_items},
                {"interaction_rows_skipped", inter.issues.size()}, {"users_popularity_fallback", fallback},
                {"items_without_interactions", cold_items}, {"cold_items_recommended", cold_recommended},
                {"text_similarity", has_text}, {"interaction_rows", inter.data_rows},
                {"has_recommendations", have_interactions}};
  for (auto& e : unknown_examples) b.extra()["unknown_item_examples"].push_back(e);
  // Every skipped row (capped), not only the three the log quotes.
  if (!inter.issues.empty()) b.extra()["skipped_rows"] = IssueList(inter.issues);
  b.extra()["visual_index"] = visual_index;
  b.extra()["blend"] = blend;
  if (merging) b.extra()["merged_shards"] = {{"count", o.merge_shards}, {"artifacts", merged_from}};
  lap("outputs");
  b.extra()["peak_rss_mb"] = peak_rss_mb;
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  RecordTimings(b, phases, secs);
  Artifact a = b.Commit();
  spdlog::info("recommend: {} users x top-{} over {} items ({} cold items, {} of them recommended; {} users on "
               "popularity fallback) -> {}", users.size(), k, n, cold_items, cold_recommended, fallback, a.dir.string());
  return StageResult{a, false, secs, a.manifest["counts"]};
}

Explanation Explain(const fs::path& recommend_artifact, const std::string& user, const std::string& item) {
  Artifact a = OpenArtifact(recommend_artifact);
  if (a.stage != kStage) throw ArtifactError("explain: '" + a.dir.string() + "' is a " + a.stage + " artifact, expected recommend");
  RequireWholeArtifact(a, "explain");
  bool stored = false;
  for (const auto& out : a.manifest["outputs"]) stored |= out.value("file", "") == "scoring_neighbors.npy";
  if (!stored)
    throw ArtifactError("explain: " + a.dir.string() + " holds no scoring neighbour lists (made with --store-scoring false "
                        "or by a visrec before recommend stage version 2); rerun recommend");
  const json& p = a.manifest["params"];
  Explanation e;
  e.user = user;
  e.item = item;
  // The weights the run used (tuned ones under --blend auto); artifacts from before had only params.
  const json& used = a.manifest.contains("extra") && a.manifest["extra"].contains("blend") ? a.manifest["extra"]["blend"] : p;
  e.blend[kCf] = used.value("w_cf", 1.0);
  e.blend[kVisual] = used.value("w_visual", 1.0);
  e.blend[kText] = used.value("w_text", 1.0);
  const double half_life = p.value("half_life_days", 0.0);
  fs::path interactions;
  std::string digest;
  for (const auto& in : a.manifest["inputs"])
    if (in.value("role", "") == "interactions") {
      interactions = ResolveRecordedPath(a, in.value("path", ""), "file");
      digest = in.value("digest", "");
    }
  std::error_code ec;
  if (interactions.empty() || !fs::exists(interactions, ec))
    throw ArtifactError("explain: the interactions file '" + interactions.string() + "' that made " + a.dir.string() +
                        " is gone; restore it or rerun recommend");
  if (Sha256File(interactions) != digest)
    throw ArtifactError("explain: the interactions file '" + interactions.string() + "' changed since " + a.dir.string() +
                        " was made; rerun recommend to explain its current recommendations");

  const std::vector<std::string> ids = ReadLines(a.File("ids.txt"));
  std::unordered_map<std::string, int32_t> index;
  for (size_t i = 0; i < ids.size(); ++i) index[ids[i]] = int32_t(i);
  auto target = index.find(item);
  if (target == index.end()) throw InputError("explain: unknown item '" + item + "' (not in " + a.File("ids.txt").string() + ")");
  {
    bool known = false;
    for (const auto& u : ReadLines(a.File("users.txt"))) known |= u == user;
    if (!known) throw InputError("explain: unknown user '" + user + "' (not in " + a.File("users.txt").string() + ")");
  }
  // The user's history, by the stage's rule.
  History h;
  StreamInteractions(interactions, p.value("bad_rows", "skip") == "fail" ? BadRowPolicy::kFail : BadRowPolicy::kSkip,
                     [&](const Interaction& x) {
                       if (x.user_id != user) return;
                       auto it = index.find(x.item_id);
                       if (it == index.end()) return;
                       auto& wt = h[it->second];
                       wt.first += x.weight;
                       wt.second = std::max(wt.second, x.timestamp);
                     });
  e.history_items = int(h.size());
  e.seen = h.count(target->second) > 0;

  MappedNpy nbs(a.File("scoring_neighbors.npy")), parts(a.File("scoring_parts.npy"));
  const int64_t width = nbs.cols();
  e.neighbors = int(width);
  if (nbs.rows() != int64_t(ids.size()) || parts.rows() != nbs.rows() || parts.header().shape.size() != 3 ||
      parts.header().shape[1] != width || parts.header().shape[2] != 3)
    throw ArtifactError("explain: scoring_neighbors.npy and scoring_parts.npy of " + a.dir.string() + " disagree in shape");
  const int32_t* nb = nbs.data<int32_t>();
  const float* pt = parts.data<float>();
  if (!e.seen) {
    const double t_last = LatestTimestamp(h);
    // Same order and arithmetic as the stage's scoring loop, so the total is the same double.
    for (auto& [hi, wt] : h) {
      const double weight = HistoryWeight(wt, t_last, half_life);
      for (int64_t r = 0; r < width; ++r) {
        const int32_t j = nb[hi * width + r];
        if (j < 0) break;
        if (j != target->second) continue;
        const float* q = pt + (hi * width + r) * 3;
        const float tot = q[0] + q[1] + q[2];
        ExplainedPart x;
        x.history_item = ids[size_t(hi)];
        x.weight = weight;
        for (int s = 0; s < 3; ++s) {
          x.part[s] = q[s];
          e.by_source[s] += weight * q[s];
        }
        x.contribution = weight * tot;
        e.score += x.contribution;
        e.parts.push_back(x);
        break;
      }
    }
    std::stable_sort(e.parts.begin(), e.parts.end(), [](const ExplainedPart& x, const ExplainedPart& y) {
      return x.contribution > y.contribution || (x.contribution == y.contribution && x.history_item < y.history_item);
    });
  }
  CsvTable recs = ReadCsv(a.File("recommendations.csv"));
  for (const auto& row : recs.rows)
    if (row.size() >= 5 && row[0] == user && row[2] == item) {
      e.rank = std::stoi(row[1]);
      e.reason = row[4];
    }
  return e;
}

std::string FormatExplanation(const Explanation& e) {
  std::string s = "user " + e.user + ", item " + e.item + ": ";
  if (e.seen) return s + "already in the user's history; seen items are never recommended\n";
  s += (e.rank ? "rank " + std::to_string(e.rank) + " of the user's recommendations" : std::string("not in the user's top-K")) +
       ", score " + FormatFixed(e.score, 6) + "\n";
  if (!e.reason.empty()) s += "  reason: " + e.reason + "\n";
  s += "score = sum over history items of weight x (collaborative + visual + text), each source's part being its\n"
       "similarity divided by the history item's best of that source, times the blend weight (w_cf " +
       FormatFixed(e.blend[0], 3) + ", w_visual " + FormatFixed(e.blend[1], 3) + ", w_text " + FormatFixed(e.blend[2], 3) + ")\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-16s %9s %14s %9s %9s %13s\n", "history item", "weight", "collaborative", "visual", "text",
                "contribution");
  s += buf;
  for (const auto& x : e.parts) {
    std::snprintf(buf, sizeof buf, "%-16s %9s %14s %9s %9s %13s\n", x.history_item.c_str(), FormatFixed(x.weight, 4).c_str(),
                  FormatFixed(x.part[0], 4).c_str(), FormatFixed(x.part[1], 4).c_str(), FormatFixed(x.part[2], 4).c_str(),
                  FormatFixed(x.contribution, 6).c_str());
    s += buf;
  }
  const double total = e.score > 0 ? e.score : 1;
  std::snprintf(buf, sizeof buf, "%-16s %9s %13s%% %8s%% %8s%% %13s\n", "share of score", "",
                FormatFixed(100 * e.by_source[0] / total, 1).c_str(), FormatFixed(100 * e.by_source[1] / total, 1).c_str(),
                FormatFixed(100 * e.by_source[2] / total, 1).c_str(), FormatFixed(e.score, 6).c_str());
  s += buf;
  s += std::to_string(e.parts.size()) + " of the user's " + std::to_string(e.history_items) + " history items have " + e.item +
       " among their " + std::to_string(e.neighbors) + " scoring neighbours" +
       (e.parts.empty() ? "; the item gets no similarity-based score (it can still appear as a popular fill)" : "") + "\n";
  return s;
}

std::string ExplanationJson(const Explanation& e) {
  json j{{"user", e.user}, {"item", e.item}, {"seen", e.seen}, {"rank", e.rank}, {"reason", e.reason}, {"score", e.score},
         {"by_source", {{"collaborative", e.by_source[0]}, {"visual", e.by_source[1]}, {"text", e.by_source[2]}}},
         {"blend", {{"w_cf", e.blend[0]}, {"w_visual", e.blend[1]}, {"w_text", e.blend[2]}}},
         {"history_items", e.history_items}, {"neighbors", e.neighbors}, {"contributions", json::array()}};
  for (const auto& x : e.parts)
    j["contributions"].push_back({{"history_item", x.history_item}, {"weight", x.weight},
                                  {"collaborative", x.part[0]}, {"visual", x.part[1]}, {"text", x.part[2]},
                                  {"contribution", x.contribution}});
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace visrec::recommend
