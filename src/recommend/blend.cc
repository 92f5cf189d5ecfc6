#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include "phases.h"
#include "visrec/artifact/stage.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/parallel.h"

namespace visrec::recommend::internal {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer: a seeded, portable hash
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t HashId(const std::string& s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ Mix(seed);  // FNV-1a: the same on every platform
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return Mix(h);
}

}  // namespace

SparseRows UserItemRows(const FlatHistories& h, int32_t n_items) {
  SparseRows ui;
  ui.n_items = n_items;
  ui.Reserve(int64_t(h.users.size()), int64_t(h.entries.size()));
  std::vector<std::pair<int32_t, float>> e;
  for (size_t u = 0; u < h.users.size(); ++u) {
    e.clear();
    for (auto& [i, wt] : h[u]) e.push_back({i, float(wt.first)});
    if (!e.empty()) ui.AddRow(e);
  }
  return ui;
}

HybridLists BuildHybrid(const SourceLists& sims, const double w[3], int32_t n, int neighbors, int threads) {
  // The sources live on different scales (shrunk CF cosines are small, title cosines large), so each
  // item's neighbour scores of a source are divided by that item's best score of the source first:
  // the weights then say how much each source counts, not how its raw scale happens to fall.
  HybridLists hybrid(static_cast<size_t>(n));
  ParallelFor(n, threads, [&](int64_t i) {
    // (neighbour, source, part), then merged by neighbour: a sorted vector, not a tree per item.
    struct Part {
      int32_t item;
      int source;
      float value;
    };
    std::vector<Part> parts;
    for (int s = 0; s < 3; ++s) {
      if (w[s] <= 0 || sims[s] == nullptr || sims[s]->empty() || (*sims[s])[size_t(i)].empty()) continue;
      // Similarities at or below kNoise are rounding noise (e.g. orthogonal vectors), not signal:
      // dividing by such a "best" score would blow noise up to full weight.
      constexpr float kNoise = 1e-6f;
      const float top = (*sims[s])[size_t(i)].front().score;
      if (!(top > kNoise)) continue;
      for (auto nb : (*sims[s])[size_t(i)])
        if (nb.score > kNoise) parts.push_back({nb.item, s, float(w[s] * nb.score / top)});
    }
    std::sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) {
      return a.item < b.item || (a.item == b.item && a.source < b.source);
    });
    std::vector<HybridNb> v;
    for (size_t q = 0; q < parts.size();) {
      float p[3] = {0.f, 0.f, 0.f};
      const int32_t j = parts[q].item;
      for (; q < parts.size() && parts[q].item == j; ++q) p[parts[q].source] = parts[q].value;
      float tot = p[0] + p[1] + p[2];
      if (tot > 0) v.push_back({j, tot, {p[0], p[1], p[2]}});
    }
    std::sort(v.begin(), v.end(),
              [](auto& a, auto& b) { return a.score > b.score || (a.score == b.score && a.item < b.item); });
    // A copy of exactly the kept length: the union of three sources' lists is up to three times
    // longer, and keeping that capacity for every item cost memory in proportion.
    hybrid[size_t(i)].assign(v.begin(), v.begin() + std::min<std::ptrdiff_t>(std::ptrdiff_t(v.size()), neighbors));
  });
  return hybrid;
}

namespace {

struct Held {
  int32_t user;
  int32_t item;
};

// Validation users (2+ interactions; at most max_users, a seeded sample) and each one's held-out
// item: among the latest items (all of them without timestamps), the one with the smallest seeded hash.
std::vector<Held> PickHeldOut(const BlendTuningInput& in, BlendTuning& out) {
  const FlatHistories& all = *in.histories;
  bool any_timestamp = false;
  for (const auto& e : all.entries) any_timestamp |= e.second.second != 0;
  out.by_timestamp = any_timestamp;
  std::vector<std::pair<uint64_t, int32_t>> eligible;  // (seeded order, user)
  for (size_t u = 0; u < all.users.size(); ++u)
    if (all[u].size() >= 2) eligible.push_back({HashId(all.users[u], in.seed), int32_t(u)});
  out.eligible_users = int64_t(eligible.size());
  if (in.max_users > 0 && int64_t(eligible.size()) > in.max_users) {
    std::nth_element(eligible.begin(), eligible.begin() + in.max_users, eligible.end());
    eligible.resize(size_t(in.max_users));
  }
  std::sort(eligible.begin(), eligible.end(), [](auto& a, auto& b) { return a.second < b.second; });
  std::vector<Held> held;
  for (const auto& [order, u] : eligible) {
    const auto h = all[size_t(u)];
    const double t_last = LatestTimestamp(h);
    int32_t pick = -1;
    uint64_t best = 0;
    for (const auto& [i, wt] : h) {
      if (wt.second != t_last) continue;
      const uint64_t r = Mix(order ^ Mix(uint64_t(i)));
      if (pick < 0 || r < best) {
        pick = i;
        best = r;
      }
    }
    held.push_back({u, pick});
  }
  return held;
}

// The grid: w_cf = 1, every (w_visual, w_text) pair, simpler blends first (fewer sources, then
// smaller weights), so a tie goes to the simpler blend.
std::vector<BlendCell> BlendGrid(const BlendTuningInput& in) {
  std::vector<BlendCell> cells;
  std::vector<double> text_values = in.has_text ? in.grid : std::vector<double>{0.0};
  for (double v : in.grid)
    for (double t : text_values) cells.push_back({{1.0, v, t}});
  std::stable_sort(cells.begin(), cells.end(), [](const BlendCell& a, const BlendCell& b) {
    const int na = (a.w[1] > 0) + (a.w[2] > 0), nb = (b.w[1] > 0) + (b.w[2] > 0);
    if (na != nb) return na < nb;
    if (a.w[1] + a.w[2] != b.w[1] + b.w[2]) return a.w[1] + a.w[2] < b.w[1] + b.w[2];
    return a.w[1] < b.w[1];
  });
  return cells;
}

// Training histories: every user's history without their held-out item (`held` is in user order).
FlatHistories WithoutHeldOut(const FlatHistories& all, const std::vector<Held>& held) {
  FlatHistories train;
  train.users = all.users;
  train.start.assign(all.users.size() + 1, 0);
  train.entries.reserve(all.entries.size());
  size_t q = 0;
  for (size_t u = 0; u < all.users.size(); ++u) {
    const bool holds = q < held.size() && held[q].user == int32_t(u);
    for (const auto& e : all[u])
      if (!holds || e.first != held[q].item) train.entries.push_back(e);
    if (holds) ++q;
    train.start[u + 1] = int64_t(train.entries.size());
  }
  return train;
}

// One cell: HR and NDCG of the held-out item's rank among each user's scored, unseen items.
void ScoreCell(BlendCell& cell, const SourceLists& sims, const FlatHistories& train, const std::vector<Held>& held,
               const BlendTuningInput& in) {
  const int n = in.n_items;
  const HybridLists hybrid = BuildHybrid(sims, cell.w, n, in.neighbors, in.threads);
  std::atomic<int64_t> next{0};
  // Per user, summed in user order afterwards: the same totals whatever the thread count.
  std::vector<double> ndcg(held.size(), 0.0);
  std::vector<char> hit(held.size(), 0);
  ParallelFor(in.threads, in.threads, [&](int64_t) {
    std::vector<double> total(size_t(n), 0.0);
    std::vector<int64_t> seen_by(size_t(n), 0), touched_by(size_t(n), 0);
    std::vector<int32_t> touched;
    for (int64_t q; (q = next.fetch_add(1)) < int64_t(held.size());) {
      const auto h = train[size_t(held[size_t(q)].user)];
      const int32_t target = held[size_t(q)].item;
      const int64_t mark = q + 1;
      const double t_last = LatestTimestamp(h);
      for (const auto& e : h) seen_by[size_t(e.first)] = mark;
      touched.clear();
      for (const auto& [hi, wt] : h) {
        const double weight = HistoryWeight(wt, t_last, in.half_life_days);
        for (const auto& nb : hybrid[size_t(hi)]) {
          const size_t j = size_t(nb.item);
          if (seen_by[j] == mark) continue;
          if (touched_by[j] != mark) {
            touched_by[j] = mark;
            touched.push_back(nb.item);
            total[j] = 0.0;
          }
          total[j] += weight * nb.score;
        }
      }
      if (touched_by[size_t(target)] != mark) continue;
      const double st = total[size_t(target)];
      if (!(st > 0) || !std::isfinite(st)) continue;
      int64_t rank = 0;  // items ranked above the target, by the stage's order (score desc, index asc)
      for (int32_t j : touched) {
        const double s = total[size_t(j)];
        if (s > st || (s == st && j < target)) ++rank;
      }
      if (rank < in.k) {
        hit[size_t(q)] = 1;
        ndcg[size_t(q)] = 1.0 / std::log2(double(rank) + 2.0);
      }
    }
  });
  for (size_t q = 0; q < held.size(); ++q) {
    cell.hr += hit[q];
    cell.ndcg += ndcg[q];
  }
  cell.hr /= double(held.size());
  cell.ndcg /= double(held.size());
}

}  // namespace

BlendTuning TuneBlend(const BlendTuningInput& in) {
  const auto t0 = std::chrono::steady_clock::now();
  BlendTuning out;
  const std::vector<Held> held = PickHeldOut(in, out);
  out.validation_users = int64_t(held.size());
  out.cells = BlendGrid(in);
  if (!held.empty()) {
    const FlatHistories train = WithoutHeldOut(*in.histories, held);
    const TopK cf =
        SparseCosineTopK(UserItemRows(train, in.n_items), in.neighbors, in.shrink, in.min_support, in.threads);
    const SourceLists sims{&cf, in.visual, in.has_text ? in.text : nullptr};
    for (BlendCell& cell : out.cells) ScoreCell(cell, sims, train, held, in);
    out.chosen = 0;
    for (size_t c = 1; c < out.cells.size(); ++c)
      if (out.cells[c].ndcg > out.cells[size_t(out.chosen)].ndcg) out.chosen = int(c);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

Blend ChooseBlend(const RecommendOptions& o, const FlatHistories& h, const Lists& lists, int32_t n_items,
                  bool have_interactions, int threads) {
  Blend b;
  b.w[kCf] = o.w_cf;
  b.w[kVisual] = o.w_visual;
  b.w[kText] = lists.has_text ? o.w_text : 0.0;
  double* w = b.w;
  json& blend = b.record;
  blend = json{{"mode", o.blend == BlendMode::kAuto ? "auto" : "fixed"}};
  if (o.blend == BlendMode::kAuto) {
    BlendTuningInput tin;
    tin.histories = &h;
    tin.visual = &lists.sims[kVisual];
    tin.text = &lists.sims[kText];
    tin.has_text = lists.has_text;
    tin.n_items = n_items;
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
    blend["validation"] = {{"users", t.validation_users},
                           {"eligible_users", t.eligible_users},
                           {"held_out", t.by_timestamp ? "each user's latest interaction (seeded pick among ties)"
                                                       : "a seeded random interaction per user (no timestamps)"},
                           {"metric", "ndcg@" + std::to_string(o.k)},
                           {"seconds", t.seconds}};
    if (t.chosen >= 0) {
      for (const auto& c : t.cells)
        blend["grid"].push_back(
            {{"w_cf", c.w[kCf]}, {"w_visual", c.w[kVisual]}, {"w_text", c.w[kText]}, {"hr", c.hr}, {"ndcg", c.ndcg}});
      for (int s = 0; s < 3; ++s) w[s] = t.cells[size_t(t.chosen)].w[s];
      std::string table;
      for (const auto& c : t.cells)
        table += "\n  w_cf " + FormatFixed(c.w[kCf], 2) + "  w_visual " + FormatFixed(c.w[kVisual], 2) + "  w_text " +
                 FormatFixed(c.w[kText], 2) + "  HR@" + std::to_string(o.k) + " " + FormatFixed(c.hr, 4) + "  NDCG@" +
                 std::to_string(o.k) + " " + FormatFixed(c.ndcg, 4);
      spdlog::debug("recommend: blend grid on {} validation users:{}", t.validation_users, table);
      if (t.validation_users < 100)
        spdlog::warn(
            "recommend: --blend auto tuned on only {} validation user(s); differences between blends that small "
            "are mostly noise (compare runs with `visrec compare` before trusting the choice)",
            t.validation_users);
      spdlog::info(
          "recommend: --blend auto chose w_cf {}, w_visual {}, w_text {} (validation NDCG@{} {} on {} users; {} cells "
          "in {:.2f} s)",
          FormatFixed(w[kCf], 2), FormatFixed(w[kVisual], 2), FormatFixed(w[kText], 2), o.k,
          FormatFixed(t.cells[size_t(t.chosen)].ndcg, 4), t.validation_users, t.cells.size(), t.seconds);
    } else {
      const std::string why = !have_interactions ? "no interactions to validate on"
                                                 : "no user has two or more history items to hold one out";
      blend["fallback"] = why + "; the fixed weights were used";
      spdlog::warn(
          "recommend: --blend auto could not tune ({}); using the fixed weights w_cf {}, w_visual {}, w_text {}", why,
          FormatFixed(w[kCf], 2), FormatFixed(w[kVisual], 2), FormatFixed(w[kText], 2));
    }
  }
  blend["w_cf"] = w[kCf];
  blend["w_visual"] = w[kVisual];
  blend["w_text"] = w[kText];
  return b;
}

}  // namespace visrec::recommend::internal
