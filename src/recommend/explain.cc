#include <map>
#include <unordered_map>

#include "visrec/artifact/contracts.h"
#include "visrec/artifact/csv.h"
#include "visrec/artifact/npy.h"
#include "visrec/recommend/recommend.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/sha256.h"
#include "phases.h"

namespace visrec::recommend {
namespace {
using namespace internal;
// A user's history: item -> (summed weight, latest timestamp).
using History = std::map<int32_t, std::pair<double, double>>;

// A whole recommend artifact that stored its scoring neighbour lists.
Artifact OpenExplainable(const fs::path& recommend_artifact) {
  Artifact a = OpenArtifact(recommend_artifact);
  if (a.stage != kStage)
    throw ArtifactError("explain: '" + a.dir.string() + "' is a " + a.stage + " artifact, expected recommend");
  RequireWholeArtifact(a, "explain");
  if (!a.manifest.HasOutput("scoring_neighbors.npy"))
    throw ArtifactError("explain: " + a.dir.string() +
                        " holds no scoring neighbour lists (made with --store-scoring false "
                        "or by a visrec before recommend stage version 2); rerun recommend");
  return a;
}

// The interactions file the run read, unchanged since: otherwise the history is not the one scored.
fs::path CheckedInteractions(const Artifact& a) {
  fs::path interactions;
  std::string digest;
  for (const auto& in : a.manifest.InputsWithRole("interactions")) {
    interactions = ResolveRecordedPath(a, in.path, "file");
    digest = in.digest;
  }
  std::error_code ec;
  if (interactions.empty() || !fs::exists(interactions, ec))
    throw ArtifactError("explain: the interactions file '" + interactions.string() + "' that made " + a.dir.string() +
                        " is gone; restore it or rerun recommend");
  if (Sha256File(interactions) != digest)
    throw ArtifactError("explain: the interactions file '" + interactions.string() + "' changed since " +
                        a.dir.string() + " was made; rerun recommend to explain its current recommendations");
  return interactions;
}

// The user's history, by the stage's rule.
History UserHistory(const fs::path& interactions, const std::string& bad_rows, const std::string& user,
                    const std::unordered_map<std::string, int32_t>& index) {
  History h;
  StreamInteractions(interactions, bad_rows == "fail" ? BadRowPolicy::kFail : BadRowPolicy::kSkip,
                     [&](const Interaction& x) {
                       if (x.user_id != user) return;
                       auto it = index.find(x.item_id);
                       if (it == index.end()) return;
                       auto& wt = h[it->second];
                       wt.first += x.weight;
                       wt.second = std::max(wt.second, x.timestamp);
                     });
  return h;
}

// The score of `target` for this history, history item by history item and source by source, in
// the same order and arithmetic as the stage's scoring loop, so the total is the same double.
void Decompose(const Artifact& a, const std::vector<std::string>& ids, const History& h, int32_t target,
               double half_life, Explanation& e) {
  MappedNpy nbs(a.File("scoring_neighbors.npy")), parts(a.File("scoring_parts.npy"));
  const int64_t width = nbs.cols();
  e.neighbors = int(width);
  if (nbs.rows() != int64_t(ids.size()) || parts.rows() != nbs.rows() || parts.header().shape.size() != 3 ||
      parts.header().shape[1] != width || parts.header().shape[2] != 3)
    throw ArtifactError("explain: scoring_neighbors.npy and scoring_parts.npy of " + a.dir.string() +
                        " disagree in shape");
  if (e.seen) return;
  const int32_t* nb = nbs.data<int32_t>();
  const float* pt = parts.data<float>();
  const double t_last = LatestTimestamp(h);
  for (auto& [hi, wt] : h) {
    const double weight = HistoryWeight(wt, t_last, half_life);
    for (int64_t r = 0; r < width; ++r) {
      const int32_t j = nb[hi * width + r];
      if (j < 0) break;
      if (j != target) continue;
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

}  // namespace

void ExplainOptions::Validate() const {
  if (user.empty() || item.empty()) throw UsageError("explain: give --user and --item");
}

Explanation Explain(const ExplainOptions& o) {
  o.Validate();
  return Explain(o.recommend.empty() ? OpenGivenOrLatest("explain", "", o.workdir, kStage).dir : o.recommend, o.user,
                 o.item);
}

Explanation Explain(const fs::path& recommend_artifact, const std::string& user, const std::string& item) {
  const Artifact a = OpenExplainable(recommend_artifact);
  Explanation e;
  e.user = user;
  e.item = item;
  // The weights the run used (tuned ones under --blend auto).
  const contract::RecommendParams p = contract::RecommendParams::From(a.manifest);
  const contract::RecommendBlend& used = p.blend;
  e.blend[kCf] = used.w_cf;
  e.blend[kVisual] = used.w_visual;
  e.blend[kText] = used.w_text;
  const fs::path interactions = CheckedInteractions(a);

  const std::vector<std::string> ids = ReadLines(a.File("ids.txt"));
  std::unordered_map<std::string, int32_t> index;
  for (size_t i = 0; i < ids.size(); ++i) index[ids[i]] = int32_t(i);
  auto target = index.find(item);
  if (target == index.end())
    throw InputError("explain: unknown item '" + item + "' (not in " + a.File("ids.txt").string() + ")");
  bool known = false;
  for (const auto& u : ReadLines(a.File("users.txt"))) known |= u == user;
  if (!known) throw InputError("explain: unknown user '" + user + "' (not in " + a.File("users.txt").string() + ")");
  const History h = UserHistory(interactions, p.bad_rows, user, index);
  e.history_items = int(h.size());
  e.seen = h.count(target->second) > 0;
  Decompose(a, ids, h, target->second, p.half_life_days, e);
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
  s += (e.rank ? "rank " + std::to_string(e.rank) + " of the user's recommendations"
               : std::string("not in the user's top-K")) +
       ", score " + FormatFixed(e.score, 6) + "\n";
  if (!e.reason.empty()) s += "  reason: " + e.reason + "\n";
  s += "score = sum over history items of weight x (collaborative + visual + text), each source's part being its\n"
       "similarity divided by the history item's best of that source, times the blend weight (w_cf " +
       FormatFixed(e.blend[0], 3) + ", w_visual " + FormatFixed(e.blend[1], 3) + ", w_text " +
       FormatFixed(e.blend[2], 3) + ")\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-16s %9s %14s %9s %9s %13s\n", "history item", "weight", "collaborative", "visual",
                "text", "contribution");
  s += buf;
  for (const auto& x : e.parts) {
    std::snprintf(buf, sizeof buf, "%-16s %9s %14s %9s %9s %13s\n", x.history_item.c_str(),
                  FormatFixed(x.weight, 4).c_str(), FormatFixed(x.part[0], 4).c_str(),
                  FormatFixed(x.part[1], 4).c_str(), FormatFixed(x.part[2], 4).c_str(),
                  FormatFixed(x.contribution, 6).c_str());
    s += buf;
  }
  const double total = e.score > 0 ? e.score : 1;
  std::snprintf(buf, sizeof buf, "%-16s %9s %13s%% %8s%% %8s%% %13s\n", "share of score", "",
                FormatFixed(100 * e.by_source[0] / total, 1).c_str(),
                FormatFixed(100 * e.by_source[1] / total, 1).c_str(),
                FormatFixed(100 * e.by_source[2] / total, 1).c_str(), FormatFixed(e.score, 6).c_str());
  s += buf;
  s += std::to_string(e.parts.size()) + " of the user's " + std::to_string(e.history_items) + " history items have " +
       e.item + " among their " + std::to_string(e.neighbors) + " scoring neighbours" +
       (e.parts.empty() ? "; the item gets no similarity-based score (it can still appear as a popular fill)" : "") +
       "\n";
  return s;
}

std::string ExplanationJson(const Explanation& e) {
  json j{{"user", e.user},
         {"item", e.item},
         {"seen", e.seen},
         {"rank", e.rank},
         {"reason", e.reason},
         {"score", e.score},
         {"by_source", {{"collaborative", e.by_source[0]}, {"visual", e.by_source[1]}, {"text", e.by_source[2]}}},
         {"blend", {{"w_cf", e.blend[0]}, {"w_visual", e.blend[1]}, {"w_text", e.blend[2]}}},
         {"history_items", e.history_items},
         {"neighbors", e.neighbors},
         {"contributions", json::array()}};
  for (const auto& x : e.parts)
    j["contributions"].push_back({{"history_item", x.history_item},
                                  {"weight", x.weight},
                                  {"collaborative", x.part[0]},
                                  {"visual", x.part[1]},
                                  {"text", x.part[2]},
                                  {"contribution", x.contribution}});
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace visrec::recommend
