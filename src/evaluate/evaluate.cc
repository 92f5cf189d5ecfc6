#include "visrec/artifact/contracts.h"
#include "visrec/evaluate/evaluate.h"

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/evaluate/metrics.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/options.h"
#include "visrec/util/sha256.h"

namespace visrec::evaluate {
namespace {

json ToJson(const RankingMetrics& m) {
  return {{"hr", m.hr},         {"ndcg", m.ndcg}, {"precision", m.precision},
          {"recall", m.recall}, {"map", m.map},   {"users", m.users}};
}

// --baseline: exit 8 when a metric dropped more than the tolerance. A baseline made at another K
// measures something else, so it is refused rather than compared; a malformed one is bad input.
void CheckBaseline(const EvaluateOptions& o, const json& report) {
  json base;
  try {
    base = json::parse(ReadFileBytes(o.baseline));
  } catch (const json::exception& e) {
    throw InputError("--baseline '" + o.baseline.string() + "' is not valid JSON: " + e.what());
  }
  std::vector<std::string> drops;
  try {
    if (!base.is_object() || !base.contains("model") || !base["model"].is_object())
      throw InputError("--baseline '" + o.baseline.string() +
                       "' is not an evaluate report.json (no \"model\" metrics)");
    const int base_k = base.value("k", 0);
    if (base_k != report.value("k", 0))
      throw UsageError("--baseline '" + o.baseline.string() + "' was made at K=" + std::to_string(base_k) +
                       " and this report at K=" + std::to_string(report.value("k", 0)) +
                       "; compare reports made at the same --k (or make a new baseline)");
    auto check = [&](const std::string& path, const json& now, const json& was) {
      if (!was.is_number() || !now.is_number())
        throw InputError("--baseline '" + o.baseline.string() + "': " + path + " is not a number");
      std::string line = path + " " + FormatFixed(was.get<double>(), 4) + " -> " + FormatFixed(now.get<double>(), 4);
      if (now.get<double>() < was.get<double>() - o.tolerance) drops.push_back(line);
    };
    for (const char* m : {"hr", "ndcg", "precision", "recall", "map"}) {
      if (base["model"].contains(m)) check(std::string("model.") + m, report["model"][m], base["model"][m]);
      if (base.contains("cold_start") && base["cold_start"].is_object() && base["cold_start"].contains("model") &&
          base["cold_start"]["model"].contains(m))
        check(std::string("cold_start.model.") + m, report["cold_start"]["model"][m], base["cold_start"]["model"][m]);
    }
    if (base.contains("same_label_precision") && report.contains("same_label_precision"))
      for (auto& [src, v] : base["same_label_precision"].items())
        if (report["same_label_precision"].contains(src))
          check("same_label_precision." + src, report["same_label_precision"][src], v);
  } catch (const json::exception& e) {
    throw InputError("--baseline '" + o.baseline.string() + "' is not a well-formed report.json: " + e.what());
  }
  if (!drops.empty()) {
    std::string msg = "evaluate: " + std::to_string(drops.size()) + " metric(s) dropped more than --tolerance " +
                      FormatFixed(o.tolerance, 4) + " below " + o.baseline.string() + ": ";
    for (size_t i = 0; i < drops.size(); ++i) msg += (i ? "; " : "") + drops[i];
    throw RegressionError(msg);
  }
  spdlog::info("evaluate: no metric dropped more than {} below the baseline {}", o.tolerance, o.baseline.string());
}

// Strings to dense numbers in order of first appearance.
struct Interner {
  std::unordered_map<std::string, int32_t> index;
  std::vector<std::string> names;
  int32_t Get(const std::string& s) {
    const auto [it, added] = index.try_emplace(s, int32_t(names.size()));
    if (added) names.push_back(s);
    return it->second;
  }
};

// A recommendations CSV from any source: user_id, item_id and (optionally) rank columns; without a
// rank column each user's rows are in rank order.
struct ExternalLists {
  std::map<std::string, std::vector<std::string>> lists;  // user -> items by rank
  int longest = 0;
};
ExternalLists ReadExternalLists(const fs::path& path) {
  const CsvTable t = ReadCsv(path);
  auto column = [&](const char* name) {
    int found = -1;
    for (size_t c = 0; c < t.header.size(); ++c)
      if (t.header[c] == name) {
        if (found >= 0) throw InputError(path.string() + ": the header names '" + name + "' twice");
        found = int(c);
      }
    return found;
  };
  const int user_col = column("user_id"), item_col = column("item_id"), rank_col = column("rank");
  if (user_col < 0 || item_col < 0)
    throw InputError(path.string() +
                     ": --recommendations needs a header with user_id and item_id (and optionally rank) "
                     "columns, as visrec's recommendations.csv has");
  std::map<std::string, std::vector<std::pair<long, std::string>>> ranked;
  std::map<std::pair<std::string, long>, int64_t> rank_line;  // (user, rank) -> its first line
  std::set<std::pair<std::string, std::string>> pairs;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const std::string where = path.string() + " line " + std::to_string(t.lines[r]);
    const size_t need = size_t(std::max({user_col, item_col, rank_col})) + 1;
    if (row.size() < need)
      throw InputError(where + ": " + std::to_string(row.size()) + " fields, expected at least " +
                       std::to_string(need));
    const std::string& user = row[size_t(user_col)];
    const std::string& item = row[size_t(item_col)];
    if (user.empty() || item.empty()) throw InputError(where + ": empty user_id or item_id");
    long rank = long(ranked[user].size()) + 1;
    if (rank_col >= 0) {
      const std::string& text = row[size_t(rank_col)];
      char* end = nullptr;
      errno = 0;
      rank = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno != 0 || rank < 1 || rank > 1000000)
        throw InputError(where + ": rank '" + text + "' is not a whole number from 1 to 1000000");
    }
    if (!pairs.insert({user, item}).second)
      throw InputError(where + ": item '" + item + "' is recommended to user '" + user + "' twice");
    if (rank_col >= 0 && !rank_line.emplace(std::make_pair(user, rank), t.lines[r]).second)
      throw InputError(where + ": user '" + user + "' already has an item at rank " + std::to_string(rank) + " (line " +
                       std::to_string(rank_line[{user, rank}]) + ")");
    ranked[user].push_back({rank, item});
  }
  if (ranked.empty())
    throw InputError(path.string() + ": no recommendations in the file (only a header?); nothing to evaluate");
  ExternalLists out;
  for (auto& [user, list] : ranked) {
    std::stable_sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (size_t q = 1; q < list.size(); ++q)
      if (list[q].first == list[q - 1].first)
        throw InputError(path.string() + ": user '" + user + "' has two items at rank " +
                         std::to_string(list[q].first));
    auto& items = out.lists[user];
    for (auto& [rank, item] : list) items.push_back(std::move(item));
    out.longest = std::max(out.longest, int(items.size()));
  }
  return out;
}

}  // namespace

void EvaluateOptions::Validate() const {
  if (test.empty()) throw UsageError("evaluate: --test is required (held-out interactions, e.g. from `run --split`)");
  if (k < 1 || k > 10000) throw UsageError("evaluate: --k must be in [1, 10000]");
  for (int x : more_k)
    if (x < 1 || x > 10000) throw UsageError("evaluate: every --k cut-off must be in [1, 10000]");
  if (!label_column.empty() && catalog.empty()) throw UsageError("evaluate: --label-column needs --catalog");
  if (!recommendations.empty() && !recommend.empty())
    throw UsageError("evaluate: give a recommend artifact or --recommendations FILE, not both");
  if (!recommendations.empty() && train.empty())
    throw UsageError(
        "evaluate: --recommendations needs --train (the interactions the lists were made from: items a user "
        "already had are not discoveries)");
  if (!recommendations.empty() && !label_column.empty())
    throw UsageError(
        "evaluate: --label-column scores a recommend artifact's similar items; a --recommendations file has none");
  if (!label_items.empty() && label_column.empty()) throw UsageError("evaluate: --label-items needs --label-column");
  CheckRange("evaluate: --tolerance", tolerance, 0, 1);
}

namespace {
// The lists to evaluate (a recommend artifact's, or a recommendations CSV from any source) and the
// files the report depends on.
struct Sources {
  std::optional<Artifact> rec;
  bool external = false;
  std::string lists_name;
  fs::path train_path;
  std::vector<ArtifactInput> inputs;
  std::set<std::string> label_items;
};

Sources OpenSources(const EvaluateOptions& o, const RunContext& ctx) {
  Sources s;
  s.external = !o.recommendations.empty();
  if (!s.external) {
    s.rec = OpenGivenOrLatest("evaluate", o.recommend, ctx.workdir, "recommend");
    RequireWholeArtifact(*s.rec, "evaluate");
  }
  s.lists_name = s.external ? o.recommendations.string() : s.rec->dir.string();
  s.train_path = o.train;
  if (s.train_path.empty() && s.rec)
    for (const auto& in : s.rec->manifest.InputsWithRole("interactions"))
      s.train_path = ResolveRecordedPath(*s.rec, in.path, "file");
  if (s.train_path.empty())
    throw InputError("evaluate: " + s.lists_name + " was made without interactions; give --train");
  s.inputs = {s.external ? FileInput("recommendations", o.recommendations) : s.rec->AsInput("recommend"),
              FileInput("test", o.test), FileInput("train", s.train_path)};
  if (!o.catalog.empty()) s.inputs.push_back(FileInput("catalog", o.catalog));
  if (!o.label_items.empty()) {
    s.inputs.push_back(FileInput("label_items", o.label_items));
    for (const auto& line : ReadLines(o.label_items))
      if (!line.empty()) s.label_items.insert(line);
    if (s.label_items.empty())
      throw InputError(o.label_items.string() + ": no item ids (one per line expected) for --label-items");
  }
  return s;
}

// Cut-offs: the first is the headline; none may exceed the lists recommend wrote, or the model
// would be scored @K on a shorter list while the baselines get K items. Reads external lists.
std::vector<int> CheckCutoffs(const EvaluateOptions& o, const Sources& s, ExternalLists& ext) {
  std::vector<int> cutoffs{o.k};
  for (int x : o.more_k)
    if (std::find(cutoffs.begin(), cutoffs.end(), x) == cutoffs.end()) cutoffs.push_back(x);
  const int k_max = *std::max_element(cutoffs.begin(), cutoffs.end());
  if (s.external) {
    ext = ReadExternalLists(o.recommendations);
    if (k_max > ext.longest)
      throw UsageError("evaluate: --k " + std::to_string(k_max) + " is larger than the longest list in " +
                       s.lists_name + " (" + std::to_string(ext.longest) +
                       " items); evaluate at --k <= " + std::to_string(ext.longest));
  } else {
    if (!s.rec->manifest.HasOutput("recommendations.csv"))
      throw InputError("evaluate: " + s.rec->dir.string() +
                       " has no recommendations (recommend ran without --interactions); "
                       "nothing to evaluate");
    const int64_t rec_k = contract::RecommendParams::From(s.rec->manifest).k;
    if (k_max > rec_k)
      throw UsageError("evaluate: --k " + std::to_string(k_max) + " is larger than the " + std::to_string(rec_k) +
                       " recommendations per user in " + s.rec->dir.string() + "; evaluate at --k <= " +
                       std::to_string(rec_k) + " or rerun recommend with --k " + std::to_string(k_max));
  }
  return cutoffs;
}

// Users, items, training histories, held-out items and lists, as numbers. Users and items become
// numbers as the rows are parsed (a file's bytes are still read whole, but a string per field of a
// 50M-row file did not fit in memory); items are numbered in id order and users are visited in id
// order, so every list, draw and line is as it was with strings.
struct EvalData {
  Interner users;
  std::vector<std::string> items;  // the universe, sorted
  int32_t n = 0;
  std::vector<int64_t> seen_start;  // user u's distinct training items: seen_items[seen_start[u] .. seen_start[u + 1])
  std::vector<int32_t> seen_items;
  std::vector<double> pop;  // distinct training users per item (items past n: outside the universe)
  std::vector<std::pair<int32_t, int32_t>> relevant;  // (user, item) held out, unseen, sorted, unique
  std::vector<std::vector<int32_t>> recs;             // each user's list, by user number
  int64_t test_unknown = 0;
  int64_t test_accepted = 0;
};

std::vector<std::string> ItemUniverse(const EvaluateOptions& o, const Sources& s, const ExternalLists& ext,
                                      const Interner& keys,
                                      const std::vector<std::pair<int32_t, int32_t>>& train_pairs) {
  std::vector<std::string> items;
  if (!s.external) {
    items = ReadLines(s.rec->File("ids.txt"));
  } else if (!o.catalog.empty()) {
    items = ReadCatalog(o.catalog).item_ids;
  } else {  // no catalog: the items the training data and the lists name
    std::set<std::string> named;
    for (const auto& [u, key] : train_pairs) named.insert(keys.names[size_t(key)]);
    for (const auto& [u, list] : ext.lists) named.insert(list.begin(), list.end());
    items.assign(named.begin(), named.end());
  }
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  return items;
}

// Each user's list by user number: the external lists, or rec_items.npy (the rows of
// recommendations.csv as item numbers of ids.txt, which is the universe).
void ReadLists(const Sources& s, const ExternalLists& ext, const std::unordered_map<std::string, int32_t>& universe,
               EvalData& d) {
  d.recs.assign(d.users.names.size(), {});
  if (s.external) {
    for (auto& [u, list] : ext.lists) {
      const auto it = d.users.index.find(u);
      if (it == d.users.index.end()) continue;  // neither in training nor in test: never scored
      auto& r = d.recs[size_t(it->second)];
      for (const auto& i : list) r.push_back(universe.at(i));
    }
    return;
  }
  const auto lists = s.rec->ReadArray<int32_t>("rec_items.npy");
  const std::vector<std::string> list_users = ReadLines(s.rec->File("users.txt"));
  if (lists.shape.size() != 2 || lists.rows() != int64_t(list_users.size()))
    throw ArtifactError("evaluate: rec_items.npy and users.txt disagree in " + s.rec->dir.string());
  const int64_t width = lists.shape[1];
  for (size_t r = 0; r < list_users.size(); ++r) {
    const auto it = d.users.index.find(list_users[r]);
    if (it == d.users.index.end()) continue;  // neither in training nor in test: never scored
    auto& out = d.recs[size_t(it->second)];
    for (int64_t q = 0; q < width; ++q) {
      const int32_t i = lists.data[size_t(int64_t(r) * width + q)];
      if (i < 0) break;
      if (i >= d.n)
        throw ArtifactError("evaluate: rec_items.npy names item " + std::to_string(i) + " of " + std::to_string(d.n) +
                            " in " + s.rec->dir.string());
      out.push_back(i);
    }
  }
}

EvalData LoadData(const EvaluateOptions& o, const Sources& s, const ExternalLists& ext) {
  EvalData d;
  Interner& users = d.users;
  Interner keys;  // every item id named anywhere, in order of first appearance
  std::vector<std::pair<int32_t, int32_t>> train_pairs, test_pairs;  // (user, key)
  StreamInteractions(s.train_path, BadRowPolicy::kSkip, [&](Interaction& x) {
    train_pairs.push_back({users.Get(x.user_id), keys.Get(x.item_id)});
  });
  d.test_accepted = StreamInteractions(o.test, BadRowPolicy::kSkip, [&](Interaction& x) {
                      test_pairs.push_back({users.Get(x.user_id), keys.Get(x.item_id)});
                    }).accepted;
  d.items = ItemUniverse(o, s, ext, keys, train_pairs);
  const int32_t n = d.n = int32_t(d.items.size());
  std::unordered_map<std::string, int32_t> universe;
  universe.reserve(d.items.size());
  for (int32_t i = 0; i < n; ++i) universe.emplace(d.items[size_t(i)], i);
  if (s.external && !o.catalog.empty())
    for (const auto& [u, list] : ext.lists)
      for (const auto& i : list)
        if (!universe.count(i))
          throw InputError("evaluate: " + s.lists_name + " recommends item '" + i + "' to user '" + u + "', which " +
                           o.catalog.string() + " does not list; evaluate against the catalog the lists were made for");
  // Item number of each key: its place in the universe, or a number past it (a training item the
  // universe lacks still counts in its user's history size).
  std::vector<int32_t> item_of(keys.names.size());
  int32_t outside = n;
  for (size_t key = 0; key < keys.names.size(); ++key) {
    const auto it = universe.find(keys.names[key]);
    item_of[key] = it != universe.end() ? it->second : outside++;
  }
  // Training history per user: sorted distinct items; popularity = distinct users per item.
  for (auto& [u, key] : train_pairs) key = item_of[size_t(key)];
  std::sort(train_pairs.begin(), train_pairs.end());
  train_pairs.erase(std::unique(train_pairs.begin(), train_pairs.end()), train_pairs.end());
  d.seen_start.assign(users.names.size() + 1, 0);
  d.seen_items.resize(train_pairs.size());
  d.pop.assign(size_t(outside), 0.0);
  for (size_t q = 0; q < train_pairs.size(); ++q) {
    d.seen_start[size_t(train_pairs[q].first) + 1]++;
    d.seen_items[q] = train_pairs[q].second;
    d.pop[size_t(train_pairs[q].second)] += 1;
  }
  for (size_t u = 0; u < users.names.size(); ++u) d.seen_start[u + 1] += d.seen_start[u];
  std::vector<std::pair<int32_t, int32_t>>().swap(train_pairs);
  const auto has_seen = [&](int32_t u, int32_t i) {
    return std::binary_search(d.seen_items.begin() + d.seen_start[size_t(u)],
                              d.seen_items.begin() + d.seen_start[size_t(u) + 1], i);
  };
  for (const auto& [u, key] : test_pairs) {
    const int32_t i = item_of[size_t(key)];
    if (i >= n) {
      ++d.test_unknown;
      continue;
    }
    if (has_seen(u, i)) continue;  // re-interactions are not discoveries
    d.relevant.push_back({u, i});
  }
  std::vector<std::pair<int32_t, int32_t>>().swap(test_pairs);
  std::sort(d.relevant.begin(), d.relevant.end());
  d.relevant.erase(std::unique(d.relevant.begin(), d.relevant.end()), d.relevant.end());
  ReadLists(s, ext, universe, d);
  return d;
}

// The model's and the baselines' metrics at each cut-off, and one per_user.csv row per evaluated
// user (so two runs on the same split can be compared user by user).
struct AtK {
  RankingMetrics s_model, s_pop, s_rand, c_model, c_pop, c_rand;
  std::vector<char> covered;
  int64_t covered_count = 0;
};
struct Scored {
  std::vector<AtK> at;
  std::string per_user;
  int64_t users_without_recs = 0;
};

// Random baseline: k distinct unseen items. Rejection sampling keeps this O(k) per user; a user who
// has seen nearly everything gets an explicit pool instead.
template <class Seen>
void RandomList(int32_t n, int k, int64_t hist_size, const Seen& seen, std::mt19937_64& g, std::set<int32_t>& chosen,
                std::vector<int32_t>& pool, std::vector<int32_t>& out) {
  const size_t unseen = size_t(n) - std::min(size_t(n), size_t(hist_size));
  if (unseen > size_t(2 * k)) {
    chosen.clear();
    while (int(out.size()) < k) {
      const int32_t i = int32_t(g() % uint64_t(n));
      if (!seen(i) && chosen.insert(i).second) out.push_back(i);
    }
  } else {
    pool.clear();
    for (int32_t i = 0; i < n; ++i)
      if (!seen(i)) pool.push_back(i);
    for (int q = 0; q < k && !pool.empty(); ++q) {
      size_t r = size_t(g() % pool.size());
      out.push_back(pool[r]);
      pool[r] = pool.back();
      pool.pop_back();
    }
  }
}

std::string PerUserLine(const std::string& user, const std::vector<std::string>& items, const std::vector<int32_t>& rel,
                        const std::vector<int32_t>& model, const std::vector<int>& cutoffs) {
  std::string held, rank;
  for (int32_t i : rel) held += (held.empty() ? "" : " ") + items[size_t(i)];
  for (size_t q = 0; q < model.size(); ++q)
    if (std::binary_search(rel.begin(), rel.end(), model[q])) {
      rank = std::to_string(q + 1);
      break;
    }
  std::vector<std::string> fields{user, held, rank};
  std::vector<RankingMetrics> mine(cutoffs.size());
  for (size_t c = 0; c < cutoffs.size(); ++c) AccumulateIds(model, rel, cutoffs[c], &mine[c]);
  for (const auto& m : mine) fields.push_back(m.hr > 0 ? "1" : "0");
  for (const auto& m : mine) fields.push_back(FormatFixed(m.ndcg, 6));
  return CsvLine(fields);
}

Scored ScoreUsers(const EvaluateOptions& o, const std::vector<int>& cutoffs, const EvalData& d) {
  const int32_t n = d.n;
  const int k =
      *std::max_element(cutoffs.begin(), cutoffs.end());  // lists are built at the largest cut-off, scored at each
  const Interner& users = d.users;
  // Baselines from the same training data.
  std::vector<int32_t> by_pop(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) by_pop[size_t(i)] = i;
  std::stable_sort(by_pop.begin(), by_pop.end(),
                   [&](int32_t a, int32_t b) { return d.pop[size_t(a)] > d.pop[size_t(b)]; });
  std::mt19937_64 g(o.seed);
  Scored out;
  out.at.resize(cutoffs.size());
  for (auto& a : out.at) a.covered.assign(size_t(n), 0);
  out.per_user = "user_id,held_out,rank";
  for (int kc : cutoffs) out.per_user += ",hit@" + std::to_string(kc);
  for (int kc : cutoffs) out.per_user += ",ndcg@" + std::to_string(kc);
  out.per_user += "\n";
  // Users with held-out items, in id order.
  std::vector<int32_t> order;
  for (size_t q = 0; q < d.relevant.size(); ++q)
    if (q == 0 || d.relevant[q].first != d.relevant[q - 1].first) order.push_back(d.relevant[q].first);
  std::vector<int64_t> rel_start(users.names.size() + 1, 0);
  for (const auto& [u, i] : d.relevant) rel_start[size_t(u) + 1]++;
  for (size_t u = 0; u < users.names.size(); ++u) rel_start[u + 1] += rel_start[u];
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return users.names[size_t(a)] < users.names[size_t(b)]; });
  std::vector<int32_t> seen_mark(static_cast<size_t>(n), -1);  // user number whose history holds the item
  std::vector<int32_t> rel, cold, model, popl, randl, pool;
  std::set<int32_t> chosen;
  for (const int32_t u : order) {
    rel.clear();
    for (int64_t q = rel_start[size_t(u)]; q < rel_start[size_t(u) + 1]; ++q)
      rel.push_back(d.relevant[size_t(q)].second);
    const int64_t hist_size = d.seen_start[size_t(u) + 1] - d.seen_start[size_t(u)];
    for (int64_t q = d.seen_start[size_t(u)]; q < d.seen_start[size_t(u) + 1]; ++q)
      if (d.seen_items[size_t(q)] < n) seen_mark[size_t(d.seen_items[size_t(q)])] = u;
    const auto seen = [&](int32_t i) { return seen_mark[size_t(i)] == u; };
    model = d.recs[size_t(u)];
    if (model.empty()) ++out.users_without_recs;
    if (int(model.size()) > k) model.resize(size_t(k));
    popl.clear();
    randl.clear();
    for (int32_t i : by_pop) {
      if (int(popl.size()) >= k) break;
      if (!seen(i)) popl.push_back(i);
    }
    RandomList(n, k, hist_size, seen, g, chosen, pool, randl);
    cold.clear();
    for (int32_t i : rel)
      if (d.pop[size_t(i)] == 0) cold.push_back(i);
    out.per_user += PerUserLine(users.names[size_t(u)], d.items, rel, model, cutoffs);
    for (size_t c = 0; c < cutoffs.size(); ++c) {
      const int kc = cutoffs[c];
      AtK& a = out.at[c];
      for (size_t q = 0; q < model.size() && int(q) < kc; ++q)
        if (!a.covered[size_t(model[q])]) {
          a.covered[size_t(model[q])] = 1;
          ++a.covered_count;
        }
      AccumulateIds(model, rel, kc, &a.s_model);
      AccumulateIds(popl, rel, kc, &a.s_pop);
      AccumulateIds(randl, rel, kc, &a.s_rand);
      AccumulateIds(model, cold, kc, &a.c_model);
      AccumulateIds(popl, cold, kc, &a.c_pop);
      AccumulateIds(randl, cold, kc, &a.c_rand);
    }
  }
  return out;
}

// The report's metrics, after the checks that make a report of nothing an error.
json MetricsReport(const EvaluateOptions& o, const Sources& s, const std::vector<int>& cutoffs, const EvalData& d,
                   const Scored& r) {
  const int64_t evaluated = r.at[0].s_model.users;
  if (s.external && evaluated > 0 && r.users_without_recs == evaluated)
    throw InputError("evaluate: none of the " + std::to_string(evaluated) + " test users has a list in " +
                     s.lists_name + "; are the lists for another split or another id scheme?");
  if (d.test_unknown > 0)
    spdlog::warn("evaluate: {} test row(s) name items outside the item universe and are left out{}", d.test_unknown,
                 s.external && o.catalog.empty()
                     ? " (without --catalog the universe is the items of --train and the lists, so systems scored on "
                       "the same test set can be judged over different users: give --catalog)"
                     : "");
  if (r.users_without_recs > 0)
    spdlog::warn("evaluate: {} of the {} test users have no list in {}; they count as misses", r.users_without_recs,
                 evaluated, s.lists_name);
  if (evaluated == 0)
    throw InputError("evaluate: no test user to evaluate: " + o.test.string() + " has " +
                     std::to_string(d.test_accepted) + " usable rows, " + std::to_string(d.test_unknown) +
                     " of them naming items outside " + s.lists_name +
                     ", the rest already in the users' training history; metrics over 0 users would read 0.0000");
  const auto metrics_at = [&](const AtK& a) {
    json m;
    m["model"] = ToJson(Finish(a.s_model));
    m["model"]["coverage"] = d.items.empty() ? 0.0 : double(a.covered_count) / double(d.items.size());
    m["popularity"] = ToJson(Finish(a.s_pop));
    m["random"] = ToJson(Finish(a.s_rand));
    m["cold_start"] = {{"model", ToJson(Finish(a.c_model))},
                       {"popularity", ToJson(Finish(a.c_pop))},
                       {"random", ToJson(Finish(a.c_rand))},
                       {"note", "test items with no training interaction"}};
    return m;
  };
  json report = metrics_at(r.at[0]);
  report["k"] = o.k;
  report["users_evaluated"] = evaluated;
  report["users_without_recommendations"] = r.users_without_recs;
  report["test_rows_unknown_item"] = d.test_unknown;
  if (cutoffs.size() > 1)
    for (size_t c = 0; c < cutoffs.size(); ++c) report["at_k"][std::to_string(cutoffs[c])] = metrics_at(r.at[c]);
  return report;
}

// --label-column: the share of each source's similar items (top --k) that share the item's label.
void AddSameLabelPrecision(const EvaluateOptions& o, const Sources& s, json& report) {
  Catalog cat = ReadCatalog(o.catalog);
  if (std::find(cat.columns.begin(), cat.columns.end(), o.label_column) == cat.columns.end())
    throw InputError(o.catalog.string() + ": no column '" + o.label_column + "' for --label-column");
  std::map<std::string, std::pair<double, double>> per_source;  // same-label hits, total
  std::set<std::string> sources_seen;
  // Each item's label as a number, looked up once per row by hash (a search of the catalog's
  // ordered map per row took minutes at 1M items).
  std::unordered_map<std::string, int32_t> label_of;
  {
    std::unordered_map<std::string, int32_t> label_number;
    label_of.reserve(cat.metadata.size());
    for (auto& [item, columns] : cat.metadata)
      label_of.emplace(item,
                       label_number.try_emplace(columns[o.label_column], int32_t(label_number.size())).first->second);
  }
  // Row by row, keeping no table: similar_items.csv has 4 x similar-k rows per item.
  StreamCsvFile(
      s.rec->File("similar_items.csv"), [](std::vector<std::string>&) {},
      [&](std::vector<std::string>& r, int64_t) {
        if (r.size() < 5 || std::atoi(r[1].c_str()) > o.k) return;
        if (!s.label_items.empty()) {
          if (!s.label_items.count(r[0])) return;
          sources_seen.insert(r[0]);
        }
        auto a = label_of.find(r[0]), b = label_of.find(r[2]);
        if (a == label_of.end() || b == label_of.end()) return;
        auto& e = per_source[r[4]];
        e.first += a->second == b->second;
        e.second += 1;
      });
  for (auto& [src, e] : per_source) report["same_label_precision"][src] = e.second ? e.first / e.second : 0.0;
  report["label_column"] = o.label_column;
  if (!s.label_items.empty()) {
    report["label_items"] = {
        {"file", o.label_items.string()}, {"listed", s.label_items.size()}, {"found", sources_seen.size()}};
    if (sources_seen.empty())
      throw InputError(o.label_items.string() + ": none of its " + std::to_string(s.label_items.size()) +
                       " item ids has similar items in " + s.lists_name + "; is it from another catalog?");
  }
}
}  // namespace

StageResult RunEvaluate(const EvaluateOptions& o, const RunContext& ctx) {
  o.Validate();
  auto t0 = std::chrono::steady_clock::now();
  const Sources s = OpenSources(o, ctx);
  ExternalLists ext;
  const std::vector<int> cutoffs = CheckCutoffs(o, s, ext);
  json params{{"k", o.k}, {"seed", o.seed}, {"label_column", o.label_column}};
  if (cutoffs.size() > 1) params["more_k"] = std::vector<int>(cutoffs.begin() + 1, cutoffs.end());
  const std::string key = ComputeArtifactKey("evaluate", kEvaluateStageVersion, params, s.inputs);
  std::optional<Artifact> existing;
  if (!ctx.force) existing = FindArtifact(ctx.workdir, "evaluate", key);
  json report;
  std::optional<Artifact> out;
  if (existing) {
    SetLatest(*existing);
    report = json::parse(ReadFileBytes(existing->File("report.json")));
    out = existing;
  } else {
    const EvalData d = LoadData(o, s, ext);
    const Scored scored = ScoreUsers(o, cutoffs, d);
    report = MetricsReport(o, s, cutoffs, d, scored);
    if (!o.label_column.empty()) AddSameLabelPrecision(o, s, report);
    ArtifactBuilder b(ctx.workdir, "evaluate", kEvaluateStageVersion, params, s.inputs);
    b.set_tag(ctx.tag);
    WriteFileAtomic(b.Path("report.json"), report.dump(2) + "\n");
    WriteFileAtomic(b.Path("report.txt"), FormatReport(report));
    b.AddOutput("report.json");
    b.AddOutput("report.txt");
    WriteFileAtomic(b.Path("per_user.csv"), scored.per_user);
    b.AddOutput("per_user.csv");
    b.counts() = contract::EvaluateSummary{int64_t(scored.at[0].s_model.users)}.ToJson();
    b.SetTiming("total", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    out = b.Commit();
  }
  spdlog::info("evaluate: report in {}", out->File("report.json").string());
  std::fputs(FormatReport(report).c_str(), stdout);

  if (!o.baseline.empty()) CheckBaseline(o, report);
  return StageResult{*out, existing.has_value(), 0};
}

std::string FormatReport(const json& r) {
  std::string s;
  const int k = r.value("k", 10);
  auto row = [&](const std::string& name, const json& m) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-22s %8s %8s %8s %8s %8s %7s\n", name.c_str(),
                  FormatFixed(m.value("hr", 0.0), 4).c_str(), FormatFixed(m.value("ndcg", 0.0), 4).c_str(),
                  FormatFixed(m.value("precision", 0.0), 4).c_str(), FormatFixed(m.value("recall", 0.0), 4).c_str(),
                  FormatFixed(m.value("map", 0.0), 4).c_str(), std::to_string(m.value("users", 0)).c_str());
    s += buf;
  };
  char head[256];
  std::string K = "@" + std::to_string(k);
  std::snprintf(head, sizeof head, "%-22s %8s %8s %8s %8s %8s %7s\n", "", ("HR" + K).c_str(), ("NDCG" + K).c_str(),
                ("P" + K).c_str(), ("R" + K).c_str(), ("MAP" + K).c_str(), "users");
  s += head;
  row("model", r["model"]);
  row("popularity baseline", r["popularity"]);
  row("random baseline", r["random"]);
  row("cold-start: model", r["cold_start"]["model"]);
  row("cold-start: popularity", r["cold_start"]["popularity"]);
  row("cold-start: random", r["cold_start"]["random"]);
  s += "catalogue coverage (model): " + FormatFixed(r["model"].value("coverage", 0.0), 4) + "\n";
  if (r.contains("at_k"))
    for (auto& [kk, m] : r["at_k"].items())
      s += "model @" + kk + ": HR " + FormatFixed(m["model"].value("hr", 0.0), 4) + "  NDCG " +
           FormatFixed(m["model"].value("ndcg", 0.0), 4) + "  (popularity HR " +
           FormatFixed(m["popularity"].value("hr", 0.0), 4) + ", NDCG " +
           FormatFixed(m["popularity"].value("ndcg", 0.0), 4) + ")\n";
  if (r.contains("same_label_precision")) {
    s += "same-" + r.value("label_column", std::string("label")) + " precision" + K + " of similar items" +
         (r.contains("label_items") ? " (" + r["label_items"]["found"].dump() + " listed items)" : std::string()) + ":";
    for (auto& [src, v] : r["same_label_precision"].items()) s += " " + src + "=" + FormatFixed(v.get<double>(), 4);
    s += "\n";
  }
  return s;
}

}  // namespace visrec::evaluate
