#include <spdlog/spdlog.h>

#include "visrec/artifact/contracts.h"
#include "visrec/artifact/csv.h"
#include "visrec/artifact/npy.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "phases.h"

namespace visrec::recommend::internal {

void AppendRecommendationLines(std::string& out, const std::string& user, const std::vector<Rec>& recs,
                               const std::vector<std::string>& ids, const double w[3]) {
  std::string reason;
  for (size_t r = 0; r < recs.size(); ++r) {
    const Rec& x = recs[r];
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
    AppendCsvLine(out, {user, std::to_string(r + 1), ids[size_t(x.item)], FormatFixed(x.score, 6), reason});
  }
}

void RecArrays(const UserRecs& r, int k, std::vector<int32_t>& items, std::vector<float>& scores) {
  items.assign(r.recs.size() * size_t(k), -1);
  scores.assign(r.recs.size() * size_t(k), 0.f);
  for (size_t u = 0; u < r.recs.size(); ++u)
    for (size_t q = 0; q < r.recs[u].size(); ++q) {
      items[u * size_t(k) + q] = r.recs[u][q].item;
      scores[u * size_t(k) + q] = float(r.recs[u][q].score);
    }
}

void WriteSimilarItems(ArtifactBuilder& b, const HybridLists& hybrid, const TopK (&sims)[3],
                       const std::vector<std::string>& ids, int similar_k, int neighbors, bool store_scoring,
                       int threads) {
  const int32_t n = int32_t(ids.size());
  const int sk = similar_k;
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
                           AppendCsvLine(out, {ids[size_t(i)], std::to_string(r + 1), ids[size_t(nb.item)],
                                               FormatFixed(nb.score, 6), "hybrid"});
                         }
                         for (int s = 0; s < 3; ++s)
                           for (size_t r = 0; r < sims[s][size_t(i)].size() && int(r) < sk; ++r) {
                             const auto& nb = sims[s][size_t(i)][r];
                             AppendCsvLine(out, {ids[size_t(i)], std::to_string(r + 1), ids[size_t(nb.item)],
                                                 FormatFixed(nb.score, 6), kSourceName[s]});
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
  if (store_scoring) {
    // The exact neighbour lists the scores were summed over (hybrid, up to --neighbors per item) with
    // each source's weighted, normalized part: what `visrec explain` reads.
    const int nb = neighbors;
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
  }
}

namespace {
// The run's counts, which `run`'s table and `inspect` summarise. Cold items: no interaction at all.
contract::RecommendSummary CountRun(const WholeRun& run, const std::vector<int32_t>& rec_idx, int64_t fallback) {
  const int32_t n = run.universe.size();
  std::vector<char> recommended(size_t(n), 0);
  for (int32_t item : rec_idx)
    if (item >= 0) recommended[size_t(item)] = 1;
  contract::RecommendSummary s;
  for (int32_t i = 0; i < n; ++i)
    if (run.popularity[size_t(i)] == 0) {
      ++s.items_without_interactions;
      s.cold_items_recommended += recommended[size_t(i)];
    }
  const Interactions& inter = run.read.summary;
  s.users = int64_t(run.read.histories.users.size());
  s.items = n;
  s.items_with_vectors = int64_t(run.universe.vector_ids.size());
  s.interactions = inter.accepted;
  s.interactions_unknown_item = run.read.unknown_items;
  s.interaction_rows_skipped = int64_t(inter.issues.size());
  s.users_popularity_fallback = fallback;
  s.text_similarity = run.lists.has_text;
  s.interaction_rows = inter.data_rows;
  s.has_recommendations = !run.o.interactions.empty();
  return s;
}
}  // namespace

StageResult WriteWholeRun(const WholeRun& run, const RunContext& ctx, const json& params,
                          const std::vector<ArtifactInput>& inputs, UserRecs* recs, GatheredParts* parts,
                          PhaseClock& clock) {
  const RecommendOptions& o = run.o;
  const Universe& universe = run.universe;
  const HistoryRead& read = run.read;
  const Lists& lists = run.lists;
  const Blend& blend = run.blend;
  const std::vector<std::string>& ids = universe.ids;
  const std::vector<std::string>& users = read.histories.users;
  const int32_t n = universe.size();
  const int k = run.k, threads = run.threads;
  const bool have_interactions = !o.interactions.empty();
  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  const std::string header = "user_id,rank,item_id,score,reason\n";
  std::vector<int32_t> rec_idx;
  std::vector<float> rec_score;
  int64_t fallback = 0;
  if (parts) {
    rec_idx = std::move(parts->rec_items);
    rec_score = std::move(parts->rec_scores);
    fallback = parts->fallbacks;
    ConcatenateFiles(b.Path("recommendations.csv"), header, parts->csv_chunks);
  } else {
    RecArrays(*recs, k, rec_idx, rec_score);
    fallback = recs->Fallbacks();
    if (have_interactions)
      WriteLinesInParallel(b.Path("recommendations.csv"), header, int64_t(users.size()), threads,
                           [&](int64_t u, std::string& out) {
                             AppendRecommendationLines(out, users[size_t(u)], recs->recs[size_t(u)], ids, blend.w);
                           });
  }
  if (recs) recs->recs = {};  // before the similar items: the largest structure gone
  WriteNpy(b.Path("rec_items.npy"), DType::kI32, {int64_t(users.size()), k}, rec_idx.data());
  WriteNpy(b.Path("rec_scores.npy"), DType::kF32, {int64_t(users.size()), k}, rec_score.data());
  WriteSimilarItems(b, run.hybrid, lists.sims, ids, std::min(o.similar_k, std::max(1, n - 1)), o.neighbors,
                    o.store_scoring, threads);
  WriteLines(b.Path("ids.txt"), ids);
  WriteLines(b.Path("users.txt"), users);
  for (const char* f : {"rec_items.npy", "rec_scores.npy", "similar_items.csv", "similar_items.npy",
                        "similar_scores.npy", "ids.txt", "users.txt"})
    b.AddOutput(f);
  if (have_interactions) b.AddOutput("recommendations.csv");
  if (o.store_scoring) {
    b.AddOutput("scoring_neighbors.npy");
    b.AddOutput("scoring_parts.npy");
  }
  const contract::RecommendSummary summary = CountRun(run, rec_idx, fallback);
  b.counts() = summary.ToJson();
  const Interactions& inter = read.summary;
  for (auto& e : read.unknown_examples) b.extra()["unknown_item_examples"].push_back(e);
  // Every skipped row (capped), not only the three the log quotes.
  if (!inter.issues.empty()) b.extra()["skipped_rows"] = IssueList(inter.issues);
  b.extra()["visual_index"] = lists.visual_index;
  b.extra()["blend"] = blend.record;
  if (o.merge_shards > 1) b.extra()["merged_shards"] = {{"count", o.merge_shards}, {"artifacts", lists.merged_from}};
  if (parts) b.extra()["merged_parts"] = {{"count", o.merge_parts}, {"artifacts", parts->artifacts}};
  clock.Lap("outputs");
  clock.Record(b);
  Artifact a = b.Commit();
  spdlog::info(
      "recommend: {} users x top-{} over {} items ({} cold items, {} of them recommended; {} users on "
      "popularity fallback) -> {}",
      users.size(), k, n, summary.items_without_interactions, summary.cold_items_recommended, fallback, a.dir.string());
  return StageResult{a, false, clock.Seconds()};
}

}  // namespace visrec::recommend::internal
