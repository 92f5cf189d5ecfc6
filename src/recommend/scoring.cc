#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <set>

#include "visrec/artifact/stage.h"
#include "visrec/util/parallel.h"
#include "phases.h"

namespace visrec::recommend::internal {
namespace {
// Each worker keeps dense per-item accumulators, reset through a touched list; marks carry the
// user's number, so nothing is cleared between users. (A hash map of candidates per user, each with
// its own vector, spent most of the stage's time in malloc.)
struct Scratch {
  std::vector<double> total;
  std::vector<std::array<double, 3>> by_source;
  std::vector<int64_t> seen_by, touched_by;  // user number + 1 that saw / touched the item
  std::vector<int32_t> rank;                 // the item's place among this user's top k, or -1
  std::vector<int32_t> touched;
  std::vector<std::pair<double, int32_t>> order;
  std::vector<double> weights;  // per history entry, computed once per user (a pow() with decay)
  std::vector<std::vector<std::pair<double, int32_t>>> by_history;
  explicit Scratch(int32_t n, int k)
      : total(size_t(n), 0.0), by_source(size_t(n), {0.0, 0.0, 0.0}), seen_by(size_t(n), 0), touched_by(size_t(n), 0),
        rank(size_t(n), -1), by_history(size_t(k)) {}
};

struct ScoringInput {
  const HybridLists& hybrid;
  const std::vector<int32_t>& by_popularity;
  const std::vector<std::string>& ids;
  const double* w;
  int k;
  double half_life_days;
};

// One user's top k: scored candidates first, then popular unseen items as fill.
void ScoreUser(const ScoringInput& in, FlatHistories::Slice h, int64_t mark, Scratch& z, std::vector<Rec>& out,
               char& fallback) {
  const double t_last = LatestTimestamp(h);
  z.weights.clear();
  for (auto& [hi, wt] : h) {
    z.seen_by[size_t(hi)] = mark;  // seen items are never recommended
    z.weights.push_back(HistoryWeight(wt, t_last, in.half_life_days));
  }
  z.touched.clear();
  // History in ascending item order, neighbours in list order: each candidate's sums add the same
  // terms in the same order as ever, so scores are unchanged to the bit.
  for (size_t e = 0; e < h.size(); ++e) {
    const int32_t hi = h.begin()[e].first;
    const double weight = z.weights[e];
    for (const auto& nb : in.hybrid[size_t(hi)]) {
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
  z.order.clear();
  for (int32_t j : z.touched)
    if (z.total[size_t(j)] > 0 && std::isfinite(z.total[size_t(j)])) z.order.push_back({z.total[size_t(j)], j});
  const auto ranked = [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  const size_t winners = std::min(z.order.size(), size_t(in.k));
  std::partial_sort(z.order.begin(), z.order.begin() + std::ptrdiff_t(winners), z.order.end(), ranked);
  // The history items behind each winner, for its reason: a second pass over the same lists.
  for (size_t r = 0; r < winners; ++r) {
    z.rank[size_t(z.order[r].second)] = int32_t(r);
    z.by_history[r].clear();
  }
  if (winners > 0)
    for (size_t e = 0; e < h.size(); ++e) {
      const int32_t hi = h.begin()[e].first;
      const double weight = z.weights[e];
      for (const auto& nb : in.hybrid[size_t(hi)]) {
        const int32_t r = z.rank[size_t(nb.item)];
        if (r >= 0 && z.seen_by[size_t(nb.item)] != mark) z.by_history[size_t(r)].push_back({weight * nb.score, hi});
      }
    }
  for (size_t r = 0; r < winners; ++r) {
    const auto [score, j] = z.order[r];
    z.rank[size_t(j)] = -1;
    auto& contributors = z.by_history[r];
    std::sort(contributors.begin(), contributors.end(), [&](auto& a, auto& b) {
      return a.first > b.first || (a.first == b.first && in.ids[size_t(a.second)] < in.ids[size_t(b.second)]);
    });
    Rec rec{j, score, Why::kScored, {-1, -1}, {0, 0, 0}};
    for (size_t q = 0; q < contributors.size() && q < 2; ++q) rec.because[q] = contributors[q].second;
    for (int s = 0; s < 3; ++s)
      if (in.w[s] > 0) rec.percent[s] = int(std::lround(100 * z.by_source[size_t(j)][size_t(s)] / score));
    out.push_back(rec);
  }
  if (int(out.size()) < in.k) {
    if (out.empty()) fallback = 1;
    std::set<int32_t> have;
    for (auto& r : out) have.insert(r.item);
    for (int32_t j : in.by_popularity) {
      if (int(out.size()) >= in.k) break;
      if (z.seen_by[size_t(j)] == mark || have.count(j)) continue;
      const Why why = !fallback ? Why::kFill : h.empty() ? Why::kNoHistory : Why::kNoSimilar;
      out.push_back({j, 0.0, why, {-1, -1}, {0, 0, 0}});
    }
  }
}
}  // namespace

int64_t UserRecs::Fallbacks() const {
  int64_t n = 0;
  for (char f : fallback) n += f;
  return n;
}

UserRecs ScoreUsers(const FlatHistories& h, int64_t begin, int64_t end, const HybridLists& hybrid,
                    const std::vector<int32_t>& by_popularity, const std::vector<std::string>& ids, const double w[3],
                    int k, double half_life_days, int threads) {
  UserRecs out;
  out.begin = begin;
  out.recs.resize(size_t(end - begin));
  out.fallback.assign(size_t(end - begin), 0);
  const ScoringInput in{hybrid, by_popularity, ids, w, k, half_life_days};
  const int32_t n = int32_t(ids.size());
  std::atomic<int64_t> next_user{begin};
  ParallelFor(threads, threads, [&](int64_t) {
    Scratch z(n, k);
    for (int64_t u; (u = next_user.fetch_add(1)) < end;)
      ScoreUser(in, h[size_t(u)], u + 1, z, out.recs[size_t(u - begin)], out.fallback[size_t(u - begin)]);
  });
  return out;
}

}  // namespace visrec::recommend::internal
