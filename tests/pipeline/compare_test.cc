// `visrec compare`: the paired bootstrap against hand-computed cases, and the comparison of
// fabricated evaluate artifacts (pairing, deltas, tags, notes on what cannot be paired).
#include "visrec/pipeline/compare.h"

#include <gtest/gtest.h>

#include "../test_util.h"
#include "visrec/artifact/artifact.h"
#include "visrec/artifact/csv.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec::pipeline {
namespace {

TEST(Compare, PairedBootstrapMatchesHandComputedCases) {
  // Two users, differences 0 and 1: a resample's mean is 0, 0.5 or 1 with chances 1/4, 1/2, 1/4, so
  // the 2.5 % and 97.5 % order statistics of 2000 resamples are 0 and 1: the interval holds 0.
  Interval two = PairedBootstrap({0.0, 1.0}, 2000, 7, 0.95);
  EXPECT_DOUBLE_EQ(two.mean, 0.5);
  EXPECT_DOUBLE_EQ(two.low, 0.0);
  EXPECT_DOUBLE_EQ(two.high, 1.0);
  EXPECT_FALSE(two.significant());
  // Four users, differences 1, 1, 1, 0: a mean of 0 has chance 1/256 (about 8 of 2000, fewer than the
  // 50 below the lower order statistic), a mean of at most 0.25 has 13/256 (about 102): low = 0.25;
  // a mean of 1 has 81/256, so high = 1. The interval excludes 0: significant.
  Interval four = PairedBootstrap(std::vector<double>{1.0, 1.0, 1.0, 0.0}, 2000, 7, 0.95);
  EXPECT_DOUBLE_EQ(four.mean, 0.75);
  EXPECT_DOUBLE_EQ(four.low, 0.25);
  EXPECT_DOUBLE_EQ(four.high, 1.0);
  EXPECT_TRUE(four.significant());
  // The same difference for everybody: no spread at all.
  Interval same = PairedBootstrap(std::vector<double>(50, -0.125), 500, 1, 0.95);
  EXPECT_DOUBLE_EQ(same.low, -0.125);
  EXPECT_DOUBLE_EQ(same.high, -0.125);
  EXPECT_TRUE(same.significant());
  // Seeded: the same interval every time; several metrics share their resampled users.
  const std::vector<double> d{0.3, -0.1, 0.2, 0.0, 0.5, -0.4, 0.1};
  const Interval a = PairedBootstrap(d, 1000, 3, 0.9), b = PairedBootstrap(d, 1000, 3, 0.9);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  const auto both = PairedBootstrap(std::vector<std::vector<double>>{d, d}, 1000, 3, 0.9);
  EXPECT_EQ(both[0].low, a.low);
  EXPECT_EQ(both[1].high, a.high);
  EXPECT_LT(a.low, a.mean);
  EXPECT_GT(a.high, a.mean);
}

// An evaluate artifact as the stage writes one: report.json, per_user.csv and a test input.
Artifact FakeEvaluate(const fs::path& workdir, const std::string& tag, const std::string& test_digest, double hr,
                      const std::vector<std::pair<std::string, int>>& hits, bool with_per_user = true) {
  json report{{"k", 10},
              {"model", {{"hr", hr}, {"ndcg", hr / 2}}},
              {"cold_start", {{"model", {{"hr", 0.0}}}}},
              {"popularity", {{"hr", 0.1}}},
              {"users_evaluated", hits.size()}};
  ArtifactBuilder b(workdir, "evaluate", 2, {{"k", 10}, {"fake", hr}},
                    {{"test", "file", "/nowhere/test.csv", test_digest}});
  b.set_tag(tag);
  WriteFileAtomic(b.Path("report.json"), report.dump(2));
  b.AddOutput("report.json");
  if (with_per_user) {
    std::string csv = "user_id,held_out,rank,hit@10,ndcg@10\n";
    for (const auto& [user, hit] : hits) csv += user + ",x,," + std::to_string(hit) + "," + (hit ? "0.5" : "0") + "\n";
    WriteFileAtomic(b.Path("per_user.csv"), csv);
    b.AddOutput("per_user.csv");
  }
  return b.Commit();
}

TEST(Compare, PairsUsersOfTheSameTestSetAndSaysWhatCannotBePaired) {
  testing::TempDir dir;
  std::vector<std::pair<std::string, int>> base, better;
  for (int u = 0; u < 40; ++u) {
    base.push_back({"u" + std::to_string(u), u % 4 == 0});
    better.push_back({"u" + std::to_string(u), u % 4 == 0 || u % 4 == 1});  // +1 hit for a quarter of users
  }
  Artifact a = FakeEvaluate(dir / "a", "base", "d1", 0.25, base);
  Artifact b = FakeEvaluate(dir / "b", "better", "d1", 0.5, better);
  Artifact c = FakeEvaluate(dir / "c", "", "d2", 0.5, better);            // another test set
  Artifact d = FakeEvaluate(dir / "d", "old", "d1", 0.5, better, false);  // no per_user.csv
  CompareOptions o;
  o.runs = {a.dir, b.File("report.json"), dir / "c", d.dir};  // artifact, report.json, workdir
  const json c1 = Compare(o);
  ASSERT_EQ(c1["runs"].size(), 4u);
  EXPECT_EQ(c1["runs"][0]["tag"], "base");
  EXPECT_EQ(c1["runs"][1]["tag"], "better");
  EXPECT_EQ(c1["runs"][2]["evaluate"], c.dir.string());
  ASSERT_EQ(c1["paired"].size(), 2u);  // run 2 only: HR@10 and NDCG@10
  const json& hr = c1["paired"][0];
  EXPECT_EQ(hr["run"], 2);
  EXPECT_EQ(hr["metric"], "hr");
  EXPECT_EQ(hr["users"], 40);
  EXPECT_DOUBLE_EQ(hr["diff"].get<double>(), 0.25);
  EXPECT_GT(hr["low"].get<double>(), 0.0);  // never worse for anybody: significant
  EXPECT_TRUE(hr["significant"].get<bool>());
  EXPECT_DOUBLE_EQ(c1["paired"][1]["diff"].get<double>(), 0.125);
  const std::string notes = c1["notes"].dump();
  EXPECT_NE(notes.find("run 3 was scored on another test set"), std::string::npos) << notes;
  EXPECT_NE(notes.find("run 4: " + d.dir.string() + " has no per_user.csv"), std::string::npos) << notes;
  const std::string table = FormatCompare(c1);
  EXPECT_NE(table.find("0.5000 (+0.2500)"), std::string::npos) << table;
  EXPECT_NE(table.find("significant"), std::string::npos) << table;
  const CsvTable csv = ParseCsv(CompareCsv(c1), "compare.csv");
  bool hr_row = false;
  for (const auto& r : csv.rows)
    if (r[0] == "2" && r[3] == "hr") hr_row = r[6] == "0.250000" && r[9] == "yes";
  EXPECT_TRUE(hr_row) << CompareCsv(c1);

  // Against another baseline, the signs flip.
  o.baseline = 2;
  const json c2 = Compare(o);
  EXPECT_DOUBLE_EQ(c2["paired"][0]["diff"].get<double>(), -0.25);
  EXPECT_EQ(c2["paired"][0]["run"], 1);

  // Bad requests.
  o.baseline = 5;
  EXPECT_THROW(Compare(o), UsageError);
  o.baseline = 1;
  o.runs = {dir / "nope"};
  EXPECT_THROW(Compare(o), InputError);
  o.runs = {a.dir.parent_path()};  // a stage dir: its latest
  EXPECT_EQ(Compare(o)["runs"][0]["evaluate"], a.dir.string());
  ArtifactBuilder other(dir / "e", "reduce", 1, {{"x", 1}}, {});
  const Artifact reduce = other.Commit();
  o.runs = {reduce.dir};
  EXPECT_THROW(Compare(o), ArtifactError);
  o.runs = {a.dir};
  o.resamples = 10;
  EXPECT_THROW(Compare(o), UsageError);
}

}  // namespace
}  // namespace visrec::pipeline
