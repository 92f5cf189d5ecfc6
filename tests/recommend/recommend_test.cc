// The recommend stage on fabricated reduce artifacts: brute-force reference and edge cases.
#include "visrec/recommend/recommend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <set>
#include <random>

#include "../test_util.h"
#include "visrec/artifact/csv.h"
#include "visrec/recommend/similarity.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/sha256.h"
#include "../../src/recommend/phases.h"

namespace visrec::recommend {
namespace {

// A reduce artifact holding the given unit (or zero) vectors.
Artifact FakeReduce(const fs::path& workdir, const std::vector<std::string>& ids, const std::vector<float>& rows,
                    int d) {
  ArtifactBuilder b(workdir, "reduce", 1,
                    {{"fake", ids.size()}, {"sum", std::accumulate(rows.begin(), rows.end(), 0.0)}}, {});
  WriteNpy(b.Path("reduced_l2.npy"), DType::kF32, {int64_t(ids.size()), d}, rows.data());
  std::string t;
  for (auto& i : ids) t += i + "\n";
  WriteFileAtomic(b.Path("ids.txt"), t);
  b.AddOutput("reduced_l2.npy");
  b.AddOutput("ids.txt");
  return b.Commit();
}

// n x d vectors drawn in order from `draw`, each row scaled to unit length (zero rows stay zero).
template <class Draw>
std::vector<float> UnitRows(int n, int d, Draw draw) {
  std::vector<float> v(size_t(n) * size_t(d));
  for (auto& x : v) x = draw();
  for (int i = 0; i < n; ++i) {
    double nr = 0;
    for (int c = 0; c < d; ++c) nr += double(v[size_t(i * d + c)]) * v[size_t(i * d + c)];
    if (nr > 0)
      for (int c = 0; c < d; ++c) v[size_t(i * d + c)] /= float(std::sqrt(nr));
  }
  return v;
}

TEST(Recommend, EqualsBruteForceOnRandomSmallCases) {
  std::mt19937 g(9);
  for (int trial = 0; trial < 8; ++trial) {
    testing::TempDir dir;
    const int n = 3 + int(g() % 12), d = 1 + int(g() % 3), users = 2 + int(g() % 10);
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back("i" + std::to_string(10 + i));
    const std::vector<float> v = UnitRows(n, d, [&] { return float(int(g() % 3) - 1); });
    Artifact red = FakeReduce(dir / "w", ids, v, d);
    std::vector<std::vector<double>> r(size_t(users), std::vector<double>(size_t(n), 0));
    std::string csv = "user_id,item_id\n";
    for (int u = 0; u < users; ++u)
      for (int i = 0; i < n; ++i)
        if (g() % 3 == 0) {
          r[size_t(u)][size_t(i)] = 1;
          csv += "u" + std::to_string(u) + "," + ids[size_t(i)] + "\n";
        }
    testing::WriteText(dir / "i.csv", csv);
    RecommendOptions o;
    o.reduce = red.dir;
    o.interactions = dir / "i.csv";
    o.neighbors = n;  // no truncation, so the reference needs none
    o.k = 3;
    o.shrink = trial % 2 ? 0.0 : 1.5;
    RunContext ctx;
    ctx.workdir = dir / "w";
    Artifact a = recommend::Run(o, ctx).artifact;
    // Reference: per-source full similarity, normalized by each item's best, blended, summed over history.
    auto cf = [&](int i, int j) {
      double dot = 0, ni = 0, nj = 0;
      for (int u = 0; u < users; ++u) {
        dot += r[size_t(u)][size_t(i)] * r[size_t(u)][size_t(j)];
        ni += r[size_t(u)][size_t(i)];
        nj += r[size_t(u)][size_t(j)];
      }
      return (ni > 0 && nj > 0 && dot > 0) ? dot / (std::sqrt(ni) * std::sqrt(nj) + o.shrink) : 0.0;
    };
    auto vis = [&](int i, int j) {
      double s = 0;
      for (int c = 0; c < d; ++c) s += double(v[size_t(i * d + c)]) * v[size_t(j * d + c)];
      return s;
    };
    auto hybrid = [&](int i, int j) {
      double top_cf = 0, top_vis = -1e9;
      bool any_vis = false;
      for (int q = 0; q < n; ++q) {
        if (q == i) continue;
        top_cf = std::max(top_cf, cf(i, q));
        double zq = 0, zi = 0;
        for (int c = 0; c < d; ++c) {
          zq += std::abs(v[size_t(q * d + c)]);
          zi += std::abs(v[size_t(i * d + c)]);
        }
        if (zq > 0 && zi > 0) {
          top_vis = std::max(top_vis, vis(i, q));
          any_vis = true;
        }
      }
      // Documented rule: per-source scores <= 1e-6 are noise and ignored.
      double s = 0;
      if (top_cf > 1e-6 && cf(i, j) > 1e-6) s += cf(i, j) / top_cf;
      if (any_vis && top_vis > 1e-6 && vis(i, j) > 1e-6) s += vis(i, j) / top_vis;
      return s;
    };
    CsvTable recs = ReadCsv(a.File("recommendations.csv"));
    std::map<std::string, std::vector<std::pair<std::string, double>>> got;
    for (auto& row : recs.rows) got[row[0]].push_back({row[2], std::stod(row[3])});
    for (int u = 0; u < users; ++u) {
      bool has_hist = false;
      std::vector<std::pair<double, int>> ref;
      for (int j = 0; j < n; ++j) {
        if (r[size_t(u)][size_t(j)] > 0) {
          has_hist = true;
          continue;
        }
        double s = 0;
        for (int h = 0; h < n; ++h)
          if (r[size_t(u)][size_t(h)] > 0) s += hybrid(h, j);
        if (s > 1e-9) ref.push_back({-s, j});
      }
      if (!has_hist) continue;
      std::sort(ref.begin(), ref.end());
      const std::string uid = "u" + std::to_string(u);
      auto& mine = got[uid];
      for (size_t q = 0; q < ref.size() && q < 3; ++q) {
        ASSERT_LT(q, mine.size()) << uid;
        EXPECT_NEAR(mine[q].second, -ref[q].first, 2e-5) << uid << " rank " << q + 1;
        if (mine[q].first != ids[size_t(ref[q].second)]) {  // only a tie may swap items
          EXPECT_NEAR(mine[q].second, -ref[q].first, 2e-5);
        }
      }
      for (auto& [item, score] : mine) EXPECT_TRUE(std::isfinite(score));
    }
  }
}

TEST(Recommend, EdgeCases) {
  testing::TempDir dir;
  RunContext ctx;
  ctx.workdir = dir / "w";
  // All-zero vectors, an unknown item, a user with only unknown items.
  Artifact red = FakeReduce(dir / "w", {"a", "b", "c"}, std::vector<float>(6, 0.f), 2);
  testing::WriteText(dir / "i.csv", "user_id,item_id\nu1,a\nu1,b\nu2,b\nu2,zzz\nu3,nope\n");
  RecommendOptions o;
  o.reduce = red.dir;
  o.interactions = dir / "i.csv";
  Artifact a = recommend::Run(o, ctx).artifact;
  EXPECT_EQ(a.manifest_json["counts"]["interactions_unknown_item"], 2);
  EXPECT_NE(a.manifest_json["extra"]["unknown_item_examples"][0].get<std::string>().find("line 5"), std::string::npos);
  CsvTable recs = ReadCsv(a.File("recommendations.csv"));
  bool u3_fallback = false, u1_fallback = false;
  for (auto& row : recs.rows) {
    EXPECT_NE(row[3], "nan");
    if (row[0] == "u3") u3_fallback = row[4] == "popular (no usable history)";
    // u1 saw a and b; c has no interactions and a zero vector: nothing is similar to it.
    if (row[0] == "u1") u1_fallback = row[2] == "c" && row[4] == "popular (no similar unseen items)";
    EXPECT_FALSE(row[0] == "u1" && (row[2] == "a" || row[2] == "b")) << "seen item recommended";
  }
  EXPECT_TRUE(u3_fallback);
  EXPECT_TRUE(u1_fallback);
  EXPECT_EQ(a.manifest_json["counts"]["users_popularity_fallback"], 2);
  EXPECT_EQ(a.manifest_json["counts"]["items_without_interactions"], 1);  // c
  EXPECT_EQ(a.manifest_json["counts"]["cold_items_recommended"], 1);      // c, to u1 (and u3) as a fill

  // A single-item catalog: nothing to recommend, no crash.
  Artifact one = FakeReduce(dir / "w1", {"solo"}, {1.f, 0.f}, 2);
  testing::WriteText(dir / "j.csv", "user_id,item_id\nu1,solo\n");
  o.reduce = one.dir;
  o.interactions = dir / "j.csv";
  RunContext c1;
  c1.workdir = dir / "w1";
  Artifact b = recommend::Run(o, c1).artifact;
  EXPECT_TRUE(ReadCsv(b.File("recommendations.csv")).rows.empty());

  // Bad option values are usage errors.
  o.k = 0;
  EXPECT_THROW(recommend::Run(o, c1), UsageError);
}

// Red-team round 2: a catalog without interactions still gets similar items (items 3); silent
// drops and all-skipped files are errors (items 1, 2, 7); huge weights never print garbage (5).
TEST(Recommend, HostileInputs) {
  testing::TempDir dir;
  RunContext ctx;
  ctx.workdir = dir / "w";
  Artifact red = FakeReduce(dir / "w", {"a", "b", "c"}, {1.f, 0.f, 0.8f, 0.6f, 0.f, 1.f}, 2);
  testing::WriteText(dir / "cat.csv", "item_id,image,title\na,a.jpg,red shirt\nb,b.jpg,red dress\nc,c.jpg,blue hat\n");
  RecommendOptions o;
  o.reduce = red.dir;
  o.catalog = dir / "cat.csv";

  // No interactions: similar items from visual and text, no recommendations.csv.
  Artifact only = recommend::Run(o, ctx).artifact;
  EXPECT_FALSE(fs::exists(only.dir / "recommendations.csv"));
  for (const auto& out : only.manifest_json["outputs"]) EXPECT_NE(out["file"], "recommendations.csv");
  EXPECT_EQ(only.manifest_json["counts"]["has_recommendations"], false);
  CsvTable sim = ReadCsv(only.File("similar_items.csv"));
  std::set<std::string> sources;
  for (auto& row : sim.rows) sources.insert(row[4]);
  EXPECT_EQ(sources, (std::set<std::string>{"hybrid", "visual", "text"}));

  // Text columns named on purpose must exist.
  o.text_columns = "nosuch";
  testing::ExpectThrowWith<UsageError>([&] { recommend::Run(o, ctx); }, {"its columns: item_id, image, title"});
  o.text_columns = "title";

  // Every row malformed (the exported timestamps are words): exit 3, not "0 users".
  testing::WriteText(dir / "bad.csv", "user_id,item_id,timestamp\nu1,a,yesterday\nu2,b,today\n");
  o.interactions = dir / "bad.csv";
  testing::ExpectThrowWith<InputError>([&] { recommend::Run(o, ctx); }, {"2 of 2 rows"});
  // Empty timestamp cells are absent timestamps: all rows count; decay then needs them.
  testing::WriteText(dir / "empty-ts.csv", "user_id,item_id,weight,timestamp\nu1,a,,\nu1,b,,\nu2,b,3,\n");
  o.interactions = dir / "empty-ts.csv";
  Artifact ok = recommend::Run(o, ctx).artifact;
  EXPECT_EQ(ok.manifest_json["counts"]["users"], 2);
  EXPECT_EQ(ok.manifest_json["counts"]["interactions"], 3);
  o.half_life_days = 30;
  testing::ExpectThrowWith<InputError>([&] { recommend::Run(o, ctx); }, {"empty-ts.csv:2"});
  o.half_life_days = 0;

  // More than --max-bad-rows-fraction unusable (here unknown items): exit 3 naming the flag.
  testing::WriteText(dir / "unknown.csv", "user_id,item_id\nu1,a\nu1,x\nu2,y\n");
  o.interactions = dir / "unknown.csv";
  testing::ExpectThrowWith<InputError>([&] { recommend::Run(o, ctx); }, {"--max-bad-rows-fraction"});
  o.max_bad_rows_fraction = 1;
  EXPECT_NO_THROW(recommend::Run(o, ctx));
  // Every skipped row is listed in the manifest, not only the three the log quotes.
  std::string many = "user_id,item_id,weight\nu1,a,1\n";
  for (int i = 0; i < 7; ++i) many += "u2,b,bad" + std::to_string(i) + "\n";
  testing::WriteText(dir / "many-bad.csv", many);
  o.interactions = dir / "many-bad.csv";
  const json skipped = recommend::Run(o, ctx).artifact.manifest_json["extra"]["skipped_rows"];
  ASSERT_EQ(skipped.size(), 7u);
  EXPECT_NE(skipped[6].get<std::string>().find("line 9: weight 'bad6'"), std::string::npos) << skipped;

  // The largest accepted weight: scores are plain digits, the same bytes on a forced rerun.
  testing::WriteText(dir / "big.csv", "user_id,item_id,weight\nu1,a,1e9\nu1,b,1e9\nu2,a,1e9\n");
  o.interactions = dir / "big.csv";
  Artifact big = recommend::Run(o, ctx).artifact;
  const std::string first = ReadFileBytes(big.File("recommendations.csv"));
  for (auto& row : ReadCsv(big.File("recommendations.csv")).rows)
    for (char c : row[3]) EXPECT_TRUE((c >= '0' && c <= '9') || c == '.') << row[3];
  RunContext forced = ctx;
  forced.force = true;
  EXPECT_EQ(ReadFileBytes(recommend::Run(o, forced).artifact.File("recommendations.csv")), first);

  // NaN options are refused by the shared check, naming the flag.
  o.w_cf = std::nan("");
  testing::ExpectThrowWith<UsageError>([&] { recommend::Run(o, ctx); }, {"--w-cf"});
}

// The duplicate rule (weights summed, latest timestamp kept) and row order: a file with users'
// rows interleaved and (user, item) pairs repeated gives the same recommendations, byte for byte, as
// the same history written once per pair in user order. Recency decay is on, so timestamps count.
TEST(Recommend, DuplicateRowsAndRowOrderFollowTheDocumentedRule) {
  std::mt19937 g(33);
  testing::TempDir dir;
  const int n = 24, d = 3, users = 30;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("p" + std::to_string(100 + i));
  const std::vector<float> v = UnitRows(n, d, [&] { return float(int(g() % 5) - 2); });
  Artifact red = FakeReduce(dir / "w", ids, v, d);
  struct Row {
    std::string user, item;
    double weight;
    int64_t ts;
  };
  std::vector<Row> raw;
  std::map<std::pair<std::string, std::string>, std::pair<double, int64_t>> merged;
  for (int u = 0; u < users; ++u)
    for (int i = 0; i < n; ++i) {
      if (g() % 4 != 0) continue;
      const int copies = 1 + int(g() % 3);
      for (int c = 0; c < copies; ++c) {
        Row r{"user" + std::to_string(u), ids[size_t(i)], 0.5 * double(1 + g() % 4),
              int64_t(1700000000 + g() % 5000000)};
        auto& m = merged[{r.user, r.item}];
        m.first += r.weight;
        m.second = std::max(m.second, r.ts);
        raw.push_back(r);
      }
    }
  raw.push_back({"user7", "unknown-item", 1.0, 1700000000});
  raw.push_back({"only-unknown", "unknown-item", 1.0, 1700000000});
  std::shuffle(raw.begin(), raw.end(), g);
  std::string shuffled = "user_id,item_id,weight,timestamp\n", canonical = shuffled;
  for (const auto& r : raw)
    shuffled += r.user + "," + r.item + "," + FormatShortest(r.weight) + "," + std::to_string(r.ts) + "\n";
  for (const auto& [key, wt] : merged)
    canonical += key.first + "," + key.second + "," + FormatShortest(wt.first) + "," + std::to_string(wt.second) + "\n";
  canonical += "user7,unknown-item,1,1700000000\nonly-unknown,unknown-item,1,1700000000\n";
  testing::WriteText(dir / "shuffled.csv", shuffled);
  testing::WriteText(dir / "canonical.csv", canonical);
  RecommendOptions o;
  o.reduce = red.dir;
  o.half_life_days = 20;
  o.k = 5;
  RunContext ctx;
  ctx.workdir = dir / "w";
  o.interactions = dir / "shuffled.csv";
  Artifact a = recommend::Run(o, ctx).artifact;
  o.interactions = dir / "canonical.csv";
  Artifact b = recommend::Run(o, ctx).artifact;
  ASSERT_NE(a.dir, b.dir);
  EXPECT_EQ(testing::ReadText(a.File("recommendations.csv")), testing::ReadText(b.File("recommendations.csv")));
  EXPECT_EQ(testing::ReadText(a.File("users.txt")), testing::ReadText(b.File("users.txt")));
  std::set<std::string> with_rows;
  for (const auto& r : raw) with_rows.insert(r.user);
  EXPECT_EQ(a.manifest_json["counts"]["users"], with_rows.size());  // "only-unknown" included
  EXPECT_EQ(a.manifest_json["counts"]["interactions_unknown_item"], 2);
}

TEST(Recommend, ExplainDecomposesEveryRecommendedScoreExactly) {
  std::mt19937 g(21);
  testing::TempDir dir;
  const int n = 30, d = 4, users = 25;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("item" + std::to_string(100 + i));
  std::normal_distribution<float> gauss;
  const std::vector<float> v = UnitRows(n, d, [&] { return gauss(g); });
  Artifact red = FakeReduce(dir / "w", ids, v, d);
  // Weights, timestamps and a duplicate row, so summing and recency decay are exercised.
  std::string csv = "user_id,item_id,weight,timestamp\n";
  for (int u = 0; u < users; ++u)
    for (int i = 0; i < n; ++i)
      if (g() % 5 == 0)
        csv += "u" + std::to_string(u) + "," + ids[size_t(i)] + "," + std::to_string(1 + g() % 3) + "," +
               std::to_string(1700000000 + int(g() % 5000000)) + "\n";
  csv += "u0," + ids[0] + ",2,1700000001\nu0," + ids[0] + ",1,1700000002\n";
  testing::WriteText(dir / "i.csv", csv);
  RecommendOptions o;
  o.reduce = red.dir;
  o.interactions = dir / "i.csv";
  o.neighbors = 8;  // truncated lists: an item can be a neighbour of some history items only
  o.k = 5;
  o.half_life_days = 20;
  o.w_visual = 0.7;
  RunContext ctx;
  ctx.workdir = dir / "w";
  Artifact a = recommend::Run(o, ctx).artifact;
  CsvTable recs = ReadCsv(a.File("recommendations.csv"));
  int explained = 0;
  for (const auto& row : recs.rows) {
    if (row[4].rfind("because of", 0) != 0) continue;  // popularity fills have no similarity score
    Explanation e = Explain(a.dir, row[0], row[2]);
    EXPECT_FALSE(e.seen);
    EXPECT_EQ(e.rank, std::stoi(row[1]));
    EXPECT_NEAR(e.score, std::stod(row[3]), 1e-6) << row[0] << " " << row[2];
    double by_source = e.by_source[0] + e.by_source[1] + e.by_source[2];
    EXPECT_NEAR(by_source, e.score, 1e-6 * e.score);  // the stage adds the three parts in float
    ASSERT_FALSE(e.parts.empty());
    // The reason's two named history items are the two largest contributions.
    std::string named =
        "because of " + e.parts[0].history_item + (e.parts.size() > 1 ? "+" + e.parts[1].history_item : "");
    EXPECT_EQ(row[4].substr(0, named.size()), named) << row[4];
    // Its source shares are the explanation's, rounded.
    for (int s = 0; s < 3; ++s) {
      const char* name[3] = {"collaborative ", "visual ", "text "};
      auto pos = row[4].find(name[s]);
      if (pos == std::string::npos) continue;
      EXPECT_EQ(std::stoi(row[4].substr(pos + std::strlen(name[s]))), int(std::lround(100 * e.by_source[s] / e.score)));
    }
    ++explained;
  }
  EXPECT_GT(explained, 20);
  // A seen item, unknown ids, and an artifact without stored lists.
  EXPECT_TRUE(Explain(a.dir, "u0", ids[0]).seen);
  EXPECT_THROW(Explain(a.dir, "nobody", ids[1]), InputError);
  EXPECT_THROW(Explain(a.dir, "u0", "no-such-item"), InputError);
  RecommendOptions lean = o;
  lean.store_scoring = false;
  Artifact b = recommend::Run(lean, ctx).artifact;
  EXPECT_FALSE(fs::exists(b.dir / "scoring_neighbors.npy"));
  EXPECT_THROW(Explain(b.dir, "u0", ids[1]), ArtifactError);
  // The options form: a workdir's latest artifact (b, made last, has no stored lists) or a named one.
  ExplainOptions eo;
  eo.workdir = dir / "w";
  eo.user = "u0";
  eo.item = ids[0];
  EXPECT_THROW(Explain(eo), ArtifactError);
  eo.recommend = a.dir;
  EXPECT_TRUE(Explain(eo).seen);
  EXPECT_EQ(Explain(eo).score, Explain(a.dir, "u0", ids[0]).score);
  eo.user.clear();
  EXPECT_THROW(Explain(eo), UsageError);
  // The interactions changed since: the explanation would not be of these recommendations.
  testing::WriteText(dir / "i.csv", csv + "u1," + ids[2] + ",1,1700000003\n");
  EXPECT_THROW(Explain(a.dir, "u0", ids[1]), ArtifactError);
}

TEST(Recommend, HnswVisualIndexRecordsItsRecallAndEnforcesTheFloor) {
  if (!HaveFaiss()) GTEST_SKIP() << "built without Faiss";
  testing::TempDir dir;
  const int n = 4000, d = 32;
  std::mt19937 g(4);
  std::normal_distribution<float> gauss;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("it" + std::to_string(10000 + i));
  const std::vector<float> v = UnitRows(n, d, [&] { return gauss(g); });
  Artifact red = FakeReduce(dir / "w", ids, v, d);
  testing::WriteText(dir / "i.csv", "user_id,item_id\nu1," + ids[0] + "\nu2," + ids[1] + "\n");
  RecommendOptions o;
  o.reduce = red.dir;
  o.interactions = dir / "i.csv";
  o.neighbors = 10;
  o.visual_index = recommend::VisualIndex::kHnsw;
  o.recall_sample = 200;
  RunContext ctx;
  ctx.workdir = dir / "w";
  Artifact a = recommend::Run(o, ctx).artifact;
  const json& vi = a.manifest_json["extra"]["visual_index"];
  EXPECT_EQ(vi["kind"], "hnsw");
  EXPECT_EQ(vi["recall_sample_rows"], 200);
  EXPECT_GE(vi["recall_at_k"].get<double>(), 0.9);
  // A starved graph misses neighbours; a recall floor turns that into exit 7 with no artifact.
  o.hnsw_m = 4;
  o.hnsw_ef_construction = 8;
  o.hnsw_ef_search = 1;
  o.min_recall = 0.999;
  EXPECT_THROW(recommend::Run(o, ctx), TooManyFailuresError);
}

}  // namespace
}  // namespace visrec::recommend

namespace visrec::recommend {
namespace {

// 200 items on a ring; each user buys 4 consecutive items (a day apart) and then the next, the
// test item, held back from the file. One side source knows the ring (visual: the item's angle;
// text: title tokens shared with the two items either side), the other is noise.
struct TruthAndNoise {
  std::vector<std::string> ids;
  std::map<std::string, std::string> test_item;  // user -> the fifth item
};
TruthAndNoise WriteTruthAndNoise(const fs::path& dir, bool visual_is_truth, Artifact* red) {
  std::mt19937 g(21);
  const int n = 200, d = 16;
  TruthAndNoise t;
  for (int i = 0; i < n; ++i) t.ids.push_back("i" + std::to_string(1000 + i));
  std::normal_distribution<float> normal(0.f, 1.f);
  int cell = 0;
  const std::vector<float> v = UnitRows(n, d, [&] {
    const int item = cell / d, c = cell % d;
    ++cell;
    if (!visual_is_truth) return c < 2 ? normal(g) : 0.f;  // random angles: many close, unrelated items
    const double angle = 2 * M_PI * item / n;
    return c == 0 ? float(std::cos(angle)) : c == 1 ? float(std::sin(angle)) : 0.f;
  });
  *red = FakeReduce(dir / "w", t.ids, v, d);
  const std::vector<std::string> words{"alpha", "bravo",  "charlie", "delta", "echo", "foxtrot",  "golf",  "hotel",
                                       "india", "juliet", "kilo",    "lima",  "mike", "november", "oscar", "papa"};
  std::string cat = "item_id,image,title\n";
  for (int i = 0; i < n; ++i) {
    std::string title;
    if (visual_is_truth) {
      title = words[g() % words.size()] + " " + words[g() % words.size()];
    } else {
      for (int q = 0; q < 3; ++q) title += "pos" + std::to_string((i + q) % n) + " ";
    }
    cat += t.ids[size_t(i)] + ",x.jpg," + title + "\n";
  }
  testing::WriteText(dir / "cat.csv", cat);
  std::string csv = "user_id,item_id,weight,timestamp\n";
  for (int u = 0; u < 150; ++u) {
    const int start = int(g() % n);
    const std::string user = "u" + std::to_string(100 + u);
    for (int q = 0; q < 4; ++q)
      csv += user + "," + t.ids[size_t((start + q) % n)] + ",1," + std::to_string(1700000000 + 86400 * q) + "\n";
    t.test_item[user] = t.ids[size_t((start + 4) % n)];
  }
  testing::WriteText(dir / "i.csv", csv);
  return t;
}

double HitRate(const Artifact& a, const TruthAndNoise& t) {
  std::set<std::pair<std::string, std::string>> listed;
  for (const auto& r : ReadCsv(a.File("recommendations.csv")).rows) listed.insert({r[0], r[2]});
  double hits = 0;
  for (const auto& [user, item] : t.test_item) hits += listed.count({user, item});
  return hits / double(t.test_item.size());
}

TEST(Recommend, BlendAutoGivesTheTruthfulSourceWeightAndBeatsTheDefaultBlend) {
  for (bool visual_is_truth : {true, false}) {
    SCOPED_TRACE(visual_is_truth ? "visual truth, text noise" : "text truth, visual noise");
    testing::TempDir dir;
    Artifact red;
    const TruthAndNoise t = WriteTruthAndNoise(dir.path(), visual_is_truth, &red);
    RunContext ctx;
    ctx.workdir = dir / "w";
    RecommendOptions o;
    o.reduce = red.dir;
    o.interactions = dir / "i.csv";
    o.catalog = dir / "cat.csv";
    o.half_life_days = 1;  // the latest purchase counts most: the ring's next item beats the previous one
    o.k = 3;
    const Artifact fixed = recommend::Run(o, ctx).artifact;
    o.blend = BlendMode::kAuto;
    const Artifact tuned = recommend::Run(o, ctx).artifact;
    const json& blend = tuned.manifest_json["extra"]["blend"];
    ASSERT_EQ(blend["mode"], "auto");
    EXPECT_EQ(blend["grid"].size(), 25u);
    EXPECT_EQ(blend["validation"]["users"], 150);
    const double truth = blend[visual_is_truth ? "w_visual" : "w_text"],
                 noise = blend[visual_is_truth ? "w_text" : "w_visual"];
    EXPECT_GT(truth, 0.0);
    EXPECT_EQ(noise, 0.0);
    // The chosen cell is the grid's best by validation NDCG.
    double best = 0;
    for (const auto& c : blend["grid"]) best = std::max(best, c["ndcg"].get<double>());
    bool chosen_found = false;
    for (const auto& c : blend["grid"])
      if (c["w_visual"] == blend["w_visual"] && c["w_text"] == blend["w_text"]) {
        chosen_found = true;
        EXPECT_EQ(c["ndcg"].get<double>(), best);
      }
    EXPECT_TRUE(chosen_found);
    // Noisy titles at full weight cost the default blend hits; a truthful text source leaves it little to lose.
    const double tuned_hr = HitRate(tuned, t), fixed_hr = HitRate(fixed, t);
    if (visual_is_truth) {
      EXPECT_GT(tuned_hr, fixed_hr + 0.05);
    }
    EXPECT_GE(tuned_hr, fixed_hr);
    EXPECT_GT(tuned_hr, 0.9);
    // Tuning is deterministic, whatever the thread count.
    RunContext one = ctx;
    one.workdir = dir / "w1";
    one.threads = 1;
    Artifact red1 = FakeReduce(one.workdir, ReadLines(red.File("ids.txt")), red.ReadArray<float>("reduced_l2.npy").data,
                               int(red.ReadArray<float>("reduced_l2.npy").cols()));
    o.reduce = red1.dir;
    EXPECT_EQ(recommend::Run(o, one).artifact.manifest_json["extra"]["blend"]["grid"], blend["grid"]);
  }
}

TEST(Recommend, BlendAutoFallsBackToTheFixedWeightsWhenNothingCanBeValidated) {
  testing::TempDir dir;
  RunContext ctx;
  ctx.workdir = dir / "w";
  Artifact red = FakeReduce(dir / "w", {"a", "b", "c"}, UnitRows(3, 2, [] { return 1.f; }), 2);
  testing::WriteText(dir / "i.csv", "user_id,item_id\nu1,a\nu2,b\n");  // nobody has two items
  RecommendOptions o;
  o.reduce = red.dir;
  o.interactions = dir / "i.csv";
  o.blend = BlendMode::kAuto;
  o.w_visual = 2;
  const json blend = recommend::Run(o, ctx).artifact.manifest_json["extra"]["blend"];
  EXPECT_NE(blend.value("fallback", "").find("no user has two"), std::string::npos);
  EXPECT_EQ(blend["w_visual"], 2.0);
  // Without interactions there is nothing to validate on either, and no text: the grid has no text axis.
  o.interactions.clear();
  const json alone = recommend::Run(o, ctx).artifact.manifest_json["extra"]["blend"];
  EXPECT_NE(alone.value("fallback", "").find("no interactions"), std::string::npos);
  o.blend_grid = {};
  EXPECT_THROW(recommend::Run(o, ctx), UsageError);
  o.blend_grid = {0, std::nan("")};
  EXPECT_THROW(recommend::Run(o, ctx), UsageError);
}

// `recommend --shard i/N` then `--merge-shards N` writes the artifact one run writes: the same key
// and every output byte-identical, with all three sources, cold items, items without vectors, zero
// vectors, decayed weights and blend tuning, on every visual kernel. The merge refuses shards made
// otherwise and names the fix.
// The split-run fixture: 60 items (5 without vectors, the last 8 cold), titles, 80 users with
// weights and timestamps; options with recency and 12 neighbours.
struct SplitFixture {
  std::vector<std::string> ids;
  RecommendOptions options;
};
SplitFixture MakeSplitFixture(const fs::path& dir) {
  std::mt19937 g(21);
  const int n = 60, d = 4;
  SplitFixture f;
  std::vector<std::string>& ids = f.ids;
  for (int i = 0; i < n; ++i) ids.push_back("p" + std::to_string(100 + i));
  std::vector<float> v = UnitRows(n - 5, d, [&] { return float(int(g() % 5) - 2); });  // 5 items lack vectors
  std::string catalog = "item_id,image,title\n";
  const char* const words[] = {"red", "blue", "shoe", "boot", "linen", "wool", "shirt", "coat"};
  for (int i = 0; i < n; ++i) catalog += ids[size_t(i)] + ",x.jpg," + words[g() % 8] + " " + words[g() % 8] + "\n";
  std::string csv = "user_id,item_id,weight,timestamp\n";
  for (int u = 0; u < 80; ++u)
    for (int e = 0, m = 1 + int(g() % 6); e < m; ++e)
      csv += "u" + std::to_string(u) + "," + ids[g() % (n - 8)] + "," + std::to_string(1 + g() % 3) + "," +
             std::to_string(1700000000 + int(g() % 5000000)) + "\n";  // the last 8 items stay cold
  const std::vector<std::string> vec_ids(ids.begin(), ids.begin() + (n - 5));
  Artifact red = FakeReduce(dir / "red", vec_ids, v, d);
  testing::WriteText(dir / "catalog.csv", catalog);
  testing::WriteText(dir / "i.csv", csv);
  RecommendOptions& o = f.options;
  o.reduce = red.dir;
  o.interactions = dir / "i.csv";
  o.catalog = dir / "catalog.csv";
  o.neighbors = 12;
  o.half_life_days = 30;
  return f;
}

// The ArtifactError a run ends with (a merge's refusal), or "no ArtifactError".
std::string ArtifactErrorOf(const RecommendOptions& opts, const RunContext& ctx) {
  try {
    recommend::Run(opts, ctx);
  } catch (const ArtifactError& e) {
    return std::string(e.what());
  }
  return std::string("no ArtifactError");
}

// Every output file of `a` equals `b`'s, byte for byte, under the same key and counts.
void ExpectSameOutputs(const Artifact& a, const Artifact& b) {
  EXPECT_EQ(a.dir.filename(), b.dir.filename()) << "the merged artifact should have the unsharded run's key";
  for (const auto& out : a.manifest_json["outputs"]) {
    const std::string f = out["file"];
    EXPECT_EQ(testing::ReadText(a.File(f)), testing::ReadText(b.File(f))) << f << " differs";
  }
  EXPECT_EQ(a.manifest_json["outputs"].size(), b.manifest_json["outputs"].size());
  EXPECT_EQ(a.manifest_json["counts"], b.manifest_json["counts"]);
}

TEST(Recommend, ShardsMergedEqualOneRunAndTheMergeChecksThem) {
  testing::TempDir dir;
  const SplitFixture f = MakeSplitFixture(dir.path());
  const std::vector<std::string>& ids = f.ids;
  RecommendOptions o = f.options;
  for (const char* level : {"", "baseline"})
    for (BlendMode mode : {BlendMode::kFixed, BlendMode::kAuto}) {
      SCOPED_TRACE(std::string("cpu level '") + level + "', blend " + (mode == BlendMode::kAuto ? "auto" : "fixed"));
      testing::CpuLevel cpu(level);
      o.blend = mode;
      const std::string run = std::string(level) + (mode == BlendMode::kAuto ? "auto" : "fixed");
      RunContext one, many;
      one.workdir = dir / ("one-" + run);
      many.workdir = dir / ("many-" + run);
      const Artifact a = recommend::Run(o, one).artifact;
      for (int i = 0; i < 3; ++i) {
        RunContext shard = many;
        shard.shard = ShardSpec{i, 3};
        shard.threads = 1 + i;
        const Artifact s = recommend::Run(o, shard).artifact;
        EXPECT_EQ(s.manifest_json["params"]["shard"], std::to_string(i) + "/3");
        EXPECT_GT(s.manifest_json["counts"]["shard_items"].get<int64_t>(), 0);
      }
      EXPECT_FALSE(fs::exists(many.workdir / "recommend" / "latest")) << "a shard moved the unsharded pointer";
      RecommendOptions merge = o;
      merge.merge_shards = 3;
      const Artifact b = recommend::Run(merge, many).artifact;
      EXPECT_EQ(b.manifest_json["extra"]["merged_shards"]["count"], 3);
      ExpectSameOutputs(a, b);
      EXPECT_TRUE(recommend::Run(o, many).reused) << "an unsharded run after the merge is up to date";
    }

  // What the merge refuses (exit 4 for artifacts, 2 for usage), each naming the shard and the fix.
  RunContext ctx;
  ctx.workdir = dir / "bad";
  RecommendOptions merge = o;
  merge.merge_shards = 2;
  const auto message = ArtifactErrorOf;
  const std::string none = message(merge, ctx);  // no shard ran: both named, and the fix
  EXPECT_NE(none.find("2 of 2 shards have no recommend artifact"), std::string::npos) << none;
  EXPECT_NE(none.find("latest.shard-i-of-2 for i = 0, 1"), std::string::npos) << none;
  for (int i = 0; i < 2; ++i) {
    RunContext shard = ctx;
    shard.shard = ShardSpec{i, 2};
    RecommendOptions other = o;
    other.neighbors = i == 1 ? 7 : o.neighbors;  // shard 1 with another list flag
    recommend::Run(other, shard);
  }
  const std::string differs = message(merge, ctx);
  EXPECT_NE(differs.find("shard 1/2: made with other inputs or list flags: neighbors 7 (merge: 12)"), std::string::npos)
      << differs;
  EXPECT_NE(differs.find("rerun `visrec recommend --shard 1/2 --force`"), std::string::npos) << differs;
  EXPECT_EQ(differs.find("shard 0/2"), std::string::npos) << differs;
  EXPECT_FALSE(fs::exists(ctx.workdir / "recommend" / "latest")) << "a refused merge wrote an artifact";
  {
    RunContext shard = ctx;
    shard.shard = ShardSpec{1, 2};
    recommend::Run(o, shard);  // shard 1 redone with the merge's flags
  }
  // Scoring flags may differ from the shards': only the merge reruns, and equals one run with them.
  RecommendOptions rescored = merge;
  rescored.k = 4;
  rescored.w_text = 0.25;
  const Artifact merged = recommend::Run(rescored, ctx).artifact;
  RecommendOptions direct = o;
  direct.k = 4;
  direct.w_text = 0.25;
  RunContext fresh;
  fresh.workdir = dir / "direct";
  EXPECT_EQ(testing::ReadText(merged.File("recommendations.csv")),
            testing::ReadText(recommend::Run(direct, fresh).artifact.File("recommendations.csv")));
  // Other commands refuse a shard's part and name the merge.
  const Artifact part = OpenLatest(ctx.workdir, "recommend", VerifyLevel::kCheap, ShardSpec{0, 2}.Pointer());
  try {
    Explain(part.dir, "u1", ids[0]);
    ADD_FAILURE() << "explain accepted a shard's part";
  } catch (const ArtifactError& e) {
    EXPECT_NE(std::string(e.what()).find("merge the shards first (`visrec recommend --merge-shards 2`"),
              std::string::npos)
        << e.what();
  }
  // A shard file changed in place (same size) is caught by its digest, named with the shard.
  {
    const fs::path f = part.File("lists_visual_scores.npy");
    std::string bytes = testing::ReadText(f);
    bytes[bytes.size() - 1] ^= 0x40;
    testing::WriteText(f, bytes);
    rescored.k = 5;  // not up to date: the merge must read the shards
    const std::string damaged = message(rescored, ctx);
    EXPECT_NE(damaged.find("shard 0/2: "), std::string::npos) << damaged;
    EXPECT_NE(damaged.find("lists_visual_scores.npy"), std::string::npos) << damaged;
  }
  merge.merge_shards = 3;  // shards of 2 merged as 3
  EXPECT_NE(message(merge, ctx).find("3 of 3 shards have no recommend artifact"), std::string::npos);
  merge.merge_shards = -1;
  EXPECT_THROW(recommend::Run(merge, ctx), UsageError);
  RunContext shard = ctx;
  shard.shard = ShardSpec{0, 2};
  merge.merge_shards = 2;
  EXPECT_THROW(recommend::Run(merge, shard), UsageError);  // both at once
  RecommendOptions hnsw = o;
  hnsw.visual_index = recommend::VisualIndex::kHnsw;
  EXPECT_THROW(recommend::Run(hnsw, shard), UsageError);
}

// `--score-part j/M` then `--merge-parts M`: users split in id order, alone or on top of item
// shards, with fixed and tuned blends, more parts than some have users; then the merge's refusals.
TEST(Recommend, UserPartsMergedEqualOneRunAndTheMergeChecksThem) {
  testing::TempDir dir;
  const SplitFixture f = MakeSplitFixture(dir.path());
  RecommendOptions o = f.options;
  const auto run_parts = [&](RecommendOptions opts, const RunContext& ctx, int count) {
    int64_t users = 0;
    for (int j = 0; j < count; ++j) {
      RecommendOptions part = opts;
      part.score_part = ShardSpec{j, count};
      RunContext c = ctx;
      c.threads = 1 + j % 2;
      const Artifact a = recommend::Run(part, c).artifact;
      EXPECT_EQ(a.manifest_json["params"]["score_part"], std::to_string(j) + "/" + std::to_string(count));
      users += a.manifest_json["counts"]["users"].get<int64_t>();
    }
    EXPECT_EQ(users, 80) << "every user in exactly one part";
    EXPECT_FALSE(fs::exists(ctx.workdir / "recommend" / "latest")) << "a part moved the whole run's pointer";
  };
  for (BlendMode mode : {BlendMode::kFixed, BlendMode::kAuto})
    for (int shards : {0, 2}) {
      SCOPED_TRACE(std::string("blend ") + (mode == BlendMode::kAuto ? "auto" : "fixed") + ", item shards " +
                   std::to_string(shards));
      o.blend = mode;
      const std::string run = std::to_string(int(mode)) + "-" + std::to_string(shards);
      RunContext one, many;
      one.workdir = dir / ("one-" + run);
      many.workdir = dir / ("many-" + run);
      const Artifact a = recommend::Run(o, one).artifact;
      for (int i = 0; i < shards; ++i) {
        RunContext shard = many;
        shard.shard = ShardSpec{i, shards};
        recommend::Run(o, shard);
      }
      RecommendOptions split = o;
      split.merge_shards = shards;
      run_parts(split, many, 3);
      split.merge_parts = 3;
      const Artifact b = recommend::Run(split, many).artifact;
      EXPECT_EQ(b.manifest_json["extra"]["merged_parts"]["count"], 3);
      EXPECT_EQ(b.manifest_json["extra"]["blend"]["w_visual"], a.manifest_json["extra"]["blend"]["w_visual"]);
      ExpectSameOutputs(a, b);
      EXPECT_TRUE(recommend::Run(o, many).reused) << "an unsharded run after the merge is up to date";
    }
  {  // 83 parts of 80 users: some parts are empty
    o.blend = BlendMode::kFixed;
    RunContext one, many;
    one.workdir = dir / "one-83";
    many.workdir = dir / "many-83";
    run_parts(o, many, 83);
    RecommendOptions merge = o;
    merge.merge_parts = 83;
    ExpectSameOutputs(recommend::Run(o, one).artifact, recommend::Run(merge, many).artifact);
  }

  // What the merge refuses (exit 4 for artifacts, 2 for usage), each naming the part and the fix.
  RunContext ctx;
  ctx.workdir = dir / "bad";
  RecommendOptions merge = o;
  merge.merge_parts = 2;
  const auto message = ArtifactErrorOf;
  const std::string none = message(merge, ctx);
  EXPECT_NE(none.find("2 of 2 user parts are missing (0/2, 1/2)"), std::string::npos) << none;
  EXPECT_NE(none.find("`visrec recommend --score-part j/2`"), std::string::npos) << none;
  for (int j = 0; j < 2; ++j) {
    RecommendOptions part = o;
    part.score_part = ShardSpec{j, 2};
    part.k = j == 1 ? 4 : o.k;  // part 1 with another scoring flag
    recommend::Run(part, ctx);
  }
  const std::string differs = message(merge, ctx);
  EXPECT_NE(differs.find("part 1/2: made with other inputs or flags: k 4 (merge: 10)"), std::string::npos) << differs;
  EXPECT_NE(differs.find("rerun `visrec recommend --score-part 1/2 --force`"), std::string::npos) << differs;
  EXPECT_EQ(differs.find("part 0/2"), std::string::npos) << differs;
  EXPECT_FALSE(fs::exists(ctx.workdir / "recommend" / "latest")) << "a refused merge wrote an artifact";
  RecommendOptions part1 = o;
  part1.score_part = ShardSpec{1, 2};
  const Artifact part = recommend::Run(part1, ctx).artifact;  // redone with the merge's flags
  try {
    Explain(part.dir, "u1", f.ids[0]);
    ADD_FAILURE() << "explain accepted a user part";
  } catch (const ArtifactError& e) {
    EXPECT_NE(std::string(e.what()).find("merge the parts first (`visrec recommend --merge-parts 2`"),
              std::string::npos)
        << e.what();
  }
  {  // a part's manifest edited (its blend weights are in no output's digest): caught, named
    const fs::path file = part.dir / "manifest.json";
    const std::string original = testing::ReadText(file);
    json m = json::parse(original);
    m["extra"]["blend"]["w_visual"] = 0.5;
    testing::WriteText(file, m.dump(2));
    const std::string edited = message(merge, ctx);
    EXPECT_NE(edited.find("part 1/2: its manifest.json was edited"), std::string::npos) << edited;
    testing::WriteText(file, original);
  }
  {  // a part's file changed in place (same size): caught by its digest, named with the part
    const fs::path file = part.File("rec_scores.npy");
    std::string bytes = testing::ReadText(file);
    bytes[bytes.size() - 1] ^= 0x40;
    testing::WriteText(file, bytes);
    const std::string damaged = message(merge, ctx);
    EXPECT_NE(damaged.find("part 1/2: "), std::string::npos) << damaged;
    EXPECT_NE(damaged.find("rec_scores.npy"), std::string::npos) << damaged;
    EXPECT_FALSE(fs::exists(ctx.workdir / "recommend" / "latest"));
  }
  RecommendOptions bad = o;
  bad.merge_parts = -1;
  EXPECT_THROW(recommend::Run(bad, ctx), UsageError);
  bad.merge_parts = 2;
  bad.score_part = ShardSpec{0, 2};
  EXPECT_THROW(recommend::Run(bad, ctx), UsageError);  // both at once
  bad.merge_parts = 0;
  RunContext shard = ctx;
  shard.shard = ShardSpec{0, 2};
  EXPECT_THROW(recommend::Run(bad, shard), UsageError);  // an item shard scores nobody
  RecommendOptions no_users = bad;
  no_users.interactions.clear();
  EXPECT_THROW(recommend::Run(no_users, ctx), UsageError);
  RecommendOptions hnsw = bad;
  hnsw.visual_index = recommend::VisualIndex::kHnsw;
  EXPECT_THROW(recommend::Run(hnsw, ctx), UsageError);
}

// The merge concatenates the parts' CSV chunks after checking them, possibly long before: a chunk
// rewritten since (a part rerun meanwhile) is refused, and no partial file is left.
TEST(Recommend, PartConcatenationRefusesAChunkChangedSinceItWasChecked) {
  testing::TempDir dir;
  testing::WriteText(dir / "a.csv", "u1,1\n");
  testing::WriteText(dir / "b.csv", "u2,1\n");
  const std::vector<internal::CheckedFile> chunks{{dir / "a.csv", Sha256Hex("u1,1\n")},
                                                  {dir / "b.csv", Sha256Hex("u2,1\n")}};
  internal::ConcatenateFiles(dir / "out.csv", "h\n", chunks);
  EXPECT_EQ(testing::ReadText(dir / "out.csv"), "h\nu1,1\nu2,1\n");
  testing::WriteText(dir / "b.csv", "u2,2\n");
  EXPECT_THROW(internal::ConcatenateFiles(dir / "out2.csv", "h\n", chunks), ArtifactError);
  EXPECT_FALSE(fs::exists(dir / "out2.csv"));
}

}  // namespace
}  // namespace visrec::recommend
