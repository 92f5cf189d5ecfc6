// Internal to the recommend stage: its phases, in the order `Run` calls them. Each phase takes what
// the earlier ones made and returns its own result; `Run` (recommend.cc) reads as their list.
//   universe   the item ids (visual vectors and catalog items) and the catalog's texts
//   histories  the interactions, streamed into each user's history
//   lists      each source's neighbour lists: computed, or gathered from item shards (shards.cc)
//   blend      the weights: fixed, or tuned on the user's own data (`--blend auto`)
//   hybrid     the blended lists (hybrid.h)
//   scoring    every user's (or one user part's) top-K with the parts of its reason
//   outputs    the files: recommendations, similar items, scoring lists; or a part's, or the parts
//              gathered (parts.cc)
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/inputs.h"
#include "visrec/artifact/npy.h"
#include "visrec/recommend/recommend.h"
#include "hybrid.h"

namespace visrec::recommend::internal {

constexpr const char* kStage = "recommend";
extern const char* const kSourceName[3];  // collaborative, visual, text

// Seconds and peak RSS at the end of each phase: the manifest's timings and extra.peak_rss_mb, and
// the debug log (-v).
class PhaseClock {
 public:
  PhaseClock();
  void Lap(const char* phase);
  double Seconds() const;  // since construction
  void Record(ArtifactBuilder& b) const;

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_, lap_start_;
  std::vector<std::pair<std::string, double>> phases_;
  json peak_rss_mb_ = json::object();
};

struct Universe {
  NpyArray<float> vectors;              // reduced_l2.npy rows
  std::vector<std::string> vector_ids;  // one per row
  std::optional<Catalog> catalog;
  std::vector<std::string> text_columns;  // the catalog's columns that exist among --text-columns
  std::vector<std::string> ids;           // every item, sorted
  std::unordered_map<std::string, int32_t> index;
  int32_t size() const { return int32_t(ids.size()); }
};
Universe LoadUniverse(const RecommendOptions& o, const Artifact& reduce);
// Each item's text (its text columns joined), and whether any item has one.
std::vector<std::string> ItemTexts(const Universe& u, bool* has_text);

struct HistoryRead {
  FlatHistories histories;
  Interactions summary;  // the read's counts and skipped rows (rows are taken as they stream by)
  int64_t unknown_items = 0;
  std::vector<std::string> unknown_examples;
};
// Laps "read_interactions" on the way.
HistoryRead ReadHistories(const RecommendOptions& o, const Universe& u, PhaseClock& clock);
// Users with each item in their history.
std::vector<double> Popularity(const FlatHistories& h, int32_t n_items);

struct Lists {
  TopK sims[3];  // by Source; each item-indexed
  bool has_text = false;
  json visual_index;
  json merged_from = json::array();  // shard artifacts the lists came from
};
// Every source's lists, or only those of the items flagged in `only` (a shard); laps
// "collaborative", "visual", "text".
Lists ComputeLists(const RecommendOptions& o, const Universe& u, const FlatHistories& h, const std::vector<char>* only,
                   int threads, PhaseClock& clock);

struct Blend {
  double w[3] = {0, 0, 0};
  json record;  // the manifest's extra.blend
};
Blend ChooseBlend(const RecommendOptions& o, const FlatHistories& h, const Lists& lists, int32_t n_items,
                  bool have_interactions, int threads);

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
struct UserRecs {
  int64_t begin = 0;                   // the first user scored
  std::vector<std::vector<Rec>> recs;  // users begin, begin + 1, ...
  std::vector<char> fallback;          // no scored recommendation: popularity only
  int64_t Fallbacks() const;
};
// Users [begin, end) of `h`, top `k` each: hybrid scores over their histories, unseen items only,
// filled up by `by_popularity`.
UserRecs ScoreUsers(const FlatHistories& h, int64_t begin, int64_t end, const HybridLists& hybrid,
                    const std::vector<int32_t>& by_popularity, const std::vector<std::string>& ids, const double w[3],
                    int k, double half_life_days, int threads);
std::vector<int32_t> PopularityOrder(const std::vector<double>& popularity);

// ---- outputs (outputs.cc) ----
// recommendations.csv's lines of user `u` (an index into `r`), as written.
void AppendRecommendationLines(std::string& out, const std::string& user, const std::vector<Rec>& recs,
                               const std::vector<std::string>& ids, const double w[3]);
// rec_items / rec_scores rows of `r`'s users, k wide, -1 / 0 padded.
void RecArrays(const UserRecs& r, int k, std::vector<int32_t>& items, std::vector<float>& scores);
// similar_items.{csv,npy}, similar_scores.npy, each source's arrays, and with `store_scoring` the
// scoring lists `explain` reads.
void WriteSimilarItems(ArtifactBuilder& b, const HybridLists& hybrid, const TopK (&sims)[3],
                       const std::vector<std::string>& ids, int similar_k, int neighbors, bool store_scoring,
                       int threads);

// The whole run's artifact (the one an unsharded run writes), from every user's recommendations
// (`recs`) or from the user parts gathered (`parts`): recommendations, similar items, counts.
struct GatheredParts;
struct WholeRun {
  const RecommendOptions& o;
  const Universe& universe;
  const HistoryRead& read;
  const Lists& lists;
  const Blend& blend;
  const HybridLists& hybrid;
  const std::vector<double>& popularity;
  int k;
  int threads;
};
StageResult WriteWholeRun(const WholeRun& run, const RunContext& ctx, const json& params,
                          const std::vector<ArtifactInput>& inputs, UserRecs* recs, GatheredParts* parts,
                          PhaseClock& clock);

// ---- item shards (shards.cc): `--shard i/N` writes its items' lists, `--merge-shards N` gathers ----
json ListParams(const json& params);
// What differs between another run's manifest and this one's params and inputs, flags named.
std::string ParamDifferences(const Manifest& manifest, const json& params, const std::vector<ArtifactInput>& inputs);
StageResult WriteShardLists(const RecommendOptions& o, const RunContext& ctx, const json& params,
                            const std::vector<ArtifactInput>& inputs, const std::string& lists_key,
                            const std::vector<std::string>& ids, const std::vector<char>& own, const Lists& lists,
                            const PhaseClock& clock);
void GatherShardLists(int count, const fs::path& workdir, const std::string& lists_key, const json& list_params,
                      const std::vector<ArtifactInput>& inputs, const std::vector<std::string>& ids, int neighbors,
                      Lists& lists);
// What every shard and part must share with its merge: this stage version and this visrec build.
// "" when both hold, else the problem; `kind` is "shard" or "part".
std::string StageAndBuildProblem(const Artifact& a, const char* kind);
// Problems of one shard or part, gathered and thrown as one ArtifactError.
[[noreturn]] void ThrowProblems(const std::string& what, const std::vector<std::string>& problems);

// ---- user parts (parts.cc): `--score-part j/M` writes its users' recommendations,
// `--merge-parts M` gathers them ----
std::string PartPointer(const ShardSpec& part);  // "latest.part-j-of-M"
// Part j of M's users: [first, second).
std::pair<int64_t, int64_t> PartRange(const ShardSpec& part, int64_t users);
StageResult WritePart(const RecommendOptions& o, const RunContext& ctx, const json& part_params,
                      const std::vector<ArtifactInput>& inputs, const std::string& key, const FlatHistories& h,
                      const UserRecs& r, const std::vector<std::string>& ids, const Blend& blend, int k, int threads,
                      const PhaseClock& clock);
// The parts' recommendations, checked (present; of this stage version, build, key and users; every
// file's digest; shapes and ranges; one blend), into the whole run's arrays; `blend` from the parts.
struct CheckedFile {
  fs::path path;
  std::string sha256;  // as its manifest records it
};
struct GatheredParts {
  std::vector<int32_t> rec_items;
  std::vector<float> rec_scores;
  int64_t fallbacks = 0;
  std::vector<CheckedFile> csv_chunks;  // in user order
  json artifacts = json::array();
};
GatheredParts GatherParts(int count, const fs::path& workdir, const std::string& key, const json& params,
                          const std::vector<ArtifactInput>& inputs, const FlatHistories& h, int32_t n_items, int k,
                          Blend& blend);
std::string UsersDigest(const std::vector<std::string>& users);
// `header`, then every source file's bytes in order, into a new file (an artifact's staging dir);
// ArtifactError when a source's bytes no longer match its recorded sha256.
void ConcatenateFiles(const fs::path& dst, const std::string& header, const std::vector<CheckedFile>& sources);

}  // namespace visrec::recommend::internal
