#include <algorithm>

#include <spdlog/spdlog.h>

#include "visrec/util/errors.h"
#include "phases.h"

namespace visrec::recommend::internal {
namespace {
struct Row {
  int32_t user, item;
  double weight, timestamp;
};

// Rows ordered by (user, item), stably: a (user, item) pair's duplicate rows stay in file order, so
// their weights are summed in the same order as ever. A counting sort by user (linear in rows),
// then each user's few rows by item: one stable sort of all rows cost n log n over memory far
// larger than the caches.
void SortByUserThenItem(std::vector<Row>& rows, size_t users) {
  std::vector<int64_t> at(users + 1, 0);
  for (const Row& r : rows) ++at[size_t(r.user) + 1];
  for (size_t u = 0; u < users; ++u) at[u + 1] += at[u];
  std::vector<Row> by_user(rows.size());
  std::vector<int64_t> fill(at.begin(), at.end() - 1);
  for (const Row& r : rows) by_user[size_t(fill[size_t(r.user)]++)] = r;
  rows = std::move(by_user);
  // An insertion sort per user (a user's rows are few; std::stable_sort allocated a buffer per user).
  for (size_t u = 0; u < users; ++u)
    for (int64_t q = at[u] + 1; q < at[u + 1]; ++q) {
      const Row r = rows[size_t(q)];
      int64_t p = q;
      for (; p > at[u] && rows[size_t(p - 1)].item > r.item; --p) rows[size_t(p)] = rows[size_t(p - 1)];
      rows[size_t(p)] = r;
    }
}
}  // namespace

HistoryRead ReadHistories(const RecommendOptions& o, const Universe& universe, PhaseClock& clock) {
  HistoryRead out;
  FlatHistories& hist = out.histories;
  const bool have_interactions = !o.interactions.empty();
  // Users numbered in order of first appearance, then renumbered in id order.
  std::unordered_map<std::string, int32_t> user_number;
  std::vector<std::string> seen_users;
  std::vector<Row> rows;
  if (have_interactions)
    out.summary = StreamInteractions(o.interactions, o.bad_rows, [&](Interaction& x) {
      // A user whose rows all name unknown items still exists and gets (fallback) recommendations.
      const auto [u, added] = user_number.try_emplace(x.user_id, int32_t(seen_users.size()));
      if (added) seen_users.push_back(x.user_id);
      auto it = universe.index.find(x.item_id);
      if (it == universe.index.end()) {
        ++out.unknown_items;
        if (out.unknown_examples.size() < 3)
          out.unknown_examples.push_back("line " + std::to_string(x.line) + ": item '" + x.item_id + "'");
        return;
      }
      rows.push_back({u->second, it->second, x.weight, x.timestamp});
    });
  if (have_interactions) {
    // "Zero is suspicious": a file whose rows are all (or mostly) unusable is an error, not 0 users.
    const Interactions& inter = out.summary;
    std::vector<std::string> examples = IssueExamples(inter.issues, 3);
    for (auto& e : out.unknown_examples) examples.push_back(e);
    RequireUsableShare(o.interactions.string(), inter.data_rows, int64_t(inter.issues.size()) + out.unknown_items,
                       examples, o.max_bad_rows_fraction);
    if (o.half_life_days > 0) RequireTimestampOnEveryRow(inter, "--half-life-days", "drop --half-life-days");
  }
  clock.Lap("read_interactions");
  std::vector<int32_t> by_id(seen_users.size());
  for (size_t u = 0; u < by_id.size(); ++u) by_id[u] = int32_t(u);
  std::sort(by_id.begin(), by_id.end(),
            [&](int32_t a, int32_t b) { return seen_users[size_t(a)] < seen_users[size_t(b)]; });
  std::vector<int32_t> rank(seen_users.size());
  hist.users.reserve(seen_users.size());
  for (size_t r = 0; r < by_id.size(); ++r) {
    rank[size_t(by_id[r])] = int32_t(r);
    hist.users.push_back(std::move(seen_users[size_t(by_id[r])]));
  }
  for (Row& r : rows) r.user = rank[size_t(r.user)];
  SortByUserThenItem(rows, hist.users.size());
  // Duplicates: weights summed, latest timestamp kept.
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
  if (out.unknown_items) {
    std::string s;
    for (auto& e : out.unknown_examples) s += (s.empty() ? "" : "; ") + e;
    spdlog::warn("recommend: {} interaction(s) name items not in the catalog/features and were skipped, e.g. {}",
                 out.unknown_items, s);
  }
  return out;
}

std::vector<double> Popularity(const FlatHistories& h, int32_t n_items) {
  std::vector<double> popularity(size_t(n_items), 0.0);
  for (const auto& [i, wt] : h.entries) popularity[size_t(i)] += 1;
  return popularity;
}

// Popularity order for the fallback: users, then id.
std::vector<int32_t> PopularityOrder(const std::vector<double>& popularity) {
  std::vector<int32_t> by_pop(popularity.size());
  for (size_t i = 0; i < by_pop.size(); ++i) by_pop[i] = int32_t(i);
  std::stable_sort(by_pop.begin(), by_pop.end(),
                   [&](int32_t a, int32_t b) { return popularity[size_t(a)] > popularity[size_t(b)]; });
  return by_pop;
}

}  // namespace visrec::recommend::internal
