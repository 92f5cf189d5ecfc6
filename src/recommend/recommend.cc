#include "visrec/recommend/recommend.h"

#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/artifact/npy.h"
#include "visrec/util/allocator.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/options.h"
#include "visrec/util/sha256.h"
#include "phases.h"

namespace visrec::recommend {
namespace internal {
const char* const kSourceName[3] = {"collaborative", "visual", "text"};

PhaseClock::PhaseClock() : start_(Clock::now()), lap_start_(start_) {}

void PhaseClock::Lap(const char* phase) {
  const auto now = Clock::now();
  phases_.push_back({phase, std::chrono::duration<double>(now - lap_start_).count()});
  peak_rss_mb_[phase] = PeakRssBytes() >> 20;
  lap_start_ = now;
}

double PhaseClock::Seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void PhaseClock::Record(ArtifactBuilder& b) const {
  b.extra()["peak_rss_mb"] = peak_rss_mb_;
  b.SetTiming("total", Seconds());
  std::string by_phase;
  for (const auto& [phase, seconds] : phases_) {
    b.SetTiming(phase, seconds);
    by_phase += (by_phase.empty() ? "" : ", ") + phase + " " + FormatFixed(seconds, 2) + " s";
  }
  spdlog::debug("recommend: time by phase: {}", by_phase);
}
}  // namespace internal

using namespace internal;

namespace {
// How this run is split, from the options and context: item shards make or gather the neighbour
// lists; user parts score or gather the users.
struct Split {
  bool shard = false;         // --shard i/N: this shard's items' lists only
  bool merge_shards = false;  // --merge-shards N (N >= 2): lists from the shards
  bool part = false;          // --score-part j/M: this part's users only
  bool merge_parts = false;   // --merge-parts M (M >= 2): users' recommendations from the parts
};

Split CheckSplit(const RecommendOptions& o, const RunContext& ctx, bool have_interactions) {
  const Split s{ctx.shard.active(), o.merge_shards > 1, o.score_part.active(), o.merge_parts > 1};
  if (s.shard && s.merge_shards)
    throw UsageError("recommend: give --shard i/N to each shard and --merge-shards N to the merge, not both");
  if (s.shard && (s.part || s.merge_parts))
    throw UsageError(
        "recommend: --shard i/N makes item lists only; score user parts (--score-part, --merge-parts) with "
        "--merge-shards N once every shard is done");
  if ((s.part || s.merge_parts) && !have_interactions)
    throw UsageError(
        "recommend: --score-part and --merge-parts split the users' scoring; without --interactions there are "
        "no users to split");
  if ((s.shard || s.merge_shards || s.part || s.merge_parts) && o.visual_index != VisualIndex::kExact)
    throw UsageError(
        std::string("recommend: --shard, --merge-shards, --score-part and --merge-parts need the same lists in "
                    "every process (exact visual neighbours); drop --visual-index ") +
        ChoiceName(o.visual_index));
  return s;
}

json KeyParams(const RecommendOptions& o, bool have_interactions) {
  json params{{"k", o.k},
              {"similar_k", o.similar_k},
              {"neighbors", o.neighbors},
              {"w_cf", o.w_cf},
              {"w_visual", o.w_visual},
              {"w_text", o.w_text},
              {"shrink", o.shrink},
              {"min_support", o.min_support},
              {"half_life_days", o.half_life_days},
              {"store_scoring", o.store_scoring},
              {"text_columns", o.catalog.empty() ? "" : o.text_columns},
              {"bad_rows", o.bad_rows == BadRowPolicy::kSkip ? "skip" : "fail"},
              {"duplicates", "same (user, item) rows: weights summed, latest timestamp kept"},
              {"visual_index", ChoiceName(o.visual_index)}};
  if (!have_interactions) params["interactions"] = "none: similar items only";
  // The fixed weights stay in the key in auto mode too: they are what a failed tuning falls back to.
  if (o.blend == BlendMode::kAuto)
    params["blend"] = {{"mode", "auto"}, {"grid", o.blend_grid}, {"seed", o.blend_seed}, {"users", o.blend_users}};
  if (o.visual_index == VisualIndex::kHnsw)
    params["hnsw"] = {{"m", o.hnsw_m}, {"ef_construction", o.hnsw_ef_construction}, {"ef_search", o.hnsw_ef_search}};
  return params;
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
  if (hnsw_m < 4 || hnsw_m > 256) throw UsageError("recommend: --hnsw-m must be in [4, 256]");
  if (hnsw_ef_construction < 8 || hnsw_ef_search < 1)
    throw UsageError("recommend: --hnsw-ef-construction >= 8, --hnsw-ef-search >= 1");
  if (recall_sample < 1) throw UsageError("recommend: --recall-sample must be >= 1");
  CheckRange("recommend: --min-recall", min_recall, 0, 1);
  CheckRange("recommend: --max-bad-rows-fraction", max_bad_rows_fraction, 0, 1);
  if (blend_grid.empty() || blend_grid.size() > 12) throw UsageError("recommend: --blend-grid needs 1 to 12 values");
  for (double g : blend_grid) CheckRange("recommend: --blend-grid", g, 0, 1e6);
  for (size_t a = 0; a < blend_grid.size(); ++a)
    for (size_t b = a + 1; b < blend_grid.size(); ++b)
      if (blend_grid[a] == blend_grid[b])
        throw UsageError("recommend: --blend-grid names " + FormatFixed(blend_grid[a], 3) +
                         " twice; list each value once");
  if (blend_users < 0) throw UsageError("recommend: --blend-users must be >= 0 (0 = every eligible user)");
  if (merge_shards < 0 || merge_shards > 100000)
    throw UsageError("recommend: --merge-shards N needs 1 <= N <= 100000 (the N of the shards' --shard i/N)");
  if (merge_parts < 0 || merge_parts > 100000)
    throw UsageError("recommend: --merge-parts M needs 1 <= M <= 100000 (the M of the parts' --score-part j/M)");
  if (score_part.count < 1 || score_part.count > 100000 || score_part.index < 0 || score_part.index >= score_part.count)
    throw UsageError("recommend: --score-part j/M needs 0 <= j < M <= 100000");
  if (score_part.active() && merge_parts > 1)
    throw UsageError("recommend: give --score-part j/M to each user part and --merge-parts M to their merge, not both");
}

StageResult Run(const RecommendOptions& o, const RunContext& ctx) {
  o.Validate();
  PhaseClock clock;
  const int threads = ResolveThreads(ctx.threads);
  Artifact red = OpenGivenOrLatest("recommend", o.reduce, ctx.workdir, "reduce");
  const bool have_interactions = !o.interactions.empty();
  std::vector<ArtifactInput> inputs{red.AsInput("reduce")};
  if (have_interactions) inputs.push_back(FileInput("interactions", o.interactions));
  if (!o.catalog.empty()) inputs.push_back(FileInput("catalog", o.catalog));
  const json params = KeyParams(o, have_interactions);
  if (o.visual_index == VisualIndex::kHnsw) RequireFaiss();
  // Split runs: a shard (--shard i/N) writes its own items' lists (stable by id hash) against all
  // items under its own pointer; a user part (--score-part j/M) writes its users' recommendations.
  // The merges (--merge-shards N, --merge-parts M) check and gather them and write what one
  // unsharded run writes, under its key, so either way of making it is up to date for the other.
  const Split split = CheckSplit(o, ctx, have_interactions);
  const std::string key = ComputeArtifactKey(kStage, kStageVersion, params, inputs);
  const json list_params = ListParams(params);
  const std::string lists_key = ComputeArtifactKey(kStage, kStageVersion, list_params, inputs);
  json own_params = split.shard ? list_params : params;
  if (split.shard) own_params["shard"] = ctx.shard.Text();
  if (split.part) own_params["score_part"] = o.score_part.Text();
  const std::string own_key =
      split.shard || split.part ? ComputeArtifactKey(kStage, kStageVersion, own_params, inputs) : key;
  if (auto up = FindUpToDate(ctx, kStage, own_key, split.part ? PartPointer(o.score_part) : ctx.shard.Pointer()))
    return *up;
  clock.Lap("inputs");

  const Universe universe = LoadUniverse(o, red);
  const std::vector<std::string>& ids = universe.ids;
  const int32_t n = universe.size();
  clock.Lap("items");
  const HistoryRead read = ReadHistories(o, universe, clock);
  const FlatHistories& hist = read.histories;
  const std::vector<std::string>& users = hist.users;
  clock.Lap("histories");
  const int k = std::min<int>(o.k, n);
  Blend blend;
  GatheredParts parts;
  if (split.merge_parts) {  // before any list is made: a missing part fails fast
    parts = GatherParts(o.merge_parts, ctx.workdir, key, params, inputs, hist, n, k, blend);
    clock.Lap("gather_parts");
  }
  Lists lists;
  std::vector<char> own(split.shard ? size_t(n) : 0, 0);  // a shard's items, flagged
  for (size_t i = 0; i < own.size(); ++i) own[i] = ctx.shard.Owns(ids[i]);
  if (split.merge_shards) {
    GatherShardLists(o.merge_shards, ctx.workdir, lists_key, list_params, inputs, ids, o.neighbors, lists);
    ItemTexts(universe, &lists.has_text);
    clock.Lap("gather_shards");
  } else {
    lists = ComputeLists(o, universe, hist, split.shard ? &own : nullptr, threads, clock);
  }
  if (split.shard) return WriteShardLists(o, ctx, own_params, inputs, lists_key, ids, own, lists, clock);
  if (!split.merge_parts) {
    blend = ChooseBlend(o, hist, lists, n, have_interactions, threads);
    if (o.blend == BlendMode::kAuto) clock.Lap("blend_tuning");
  }
  // Hybrid neighbour lists: union of the sources' neighbours, blended scores, per-source parts kept.
  const HybridLists hybrid =
      BuildHybrid({&lists.sims[kCf], &lists.sims[kVisual], &lists.sims[kText]}, blend.w, n, o.neighbors, threads);
  const std::vector<double> popularity = Popularity(hist, n);
  clock.Lap("hybrid");
  UserRecs recs;
  if (!split.merge_parts) {
    const auto [begin, end] =
        split.part ? PartRange(o.score_part, int64_t(users.size())) : std::pair<int64_t, int64_t>{0, users.size()};
    recs =
        ScoreUsers(hist, begin, end, hybrid, PopularityOrder(popularity), ids, blend.w, k, o.half_life_days, threads);
    clock.Lap("users");
  }
  if (split.part) return WritePart(o, ctx, own_params, inputs, key, hist, recs, ids, blend, k, threads, clock);

  WholeRun run{o, universe, read, lists, blend, hybrid, popularity, k, threads};
  if (split.merge_parts) return WriteWholeRun(run, ctx, params, inputs, nullptr, &parts, clock);
  return WriteWholeRun(run, ctx, params, inputs, &recs, nullptr, clock);
}

}  // namespace visrec::recommend
