#include "visrec/pipeline/pipeline.h"

#include <gtest/gtest.h>

#include "../test_util.h"
#include "visrec/core/csv.h"
#include "visrec/core/errors.h"
#include "visrec/sample/sample.h"

namespace visrec::pipeline {
namespace {

// A tiny catalog (small photos, 32 px model input) so the whole pipeline runs in seconds.
struct TinyRun {
  testing::TempDir dir;
  RunOptions options;
  RunContext ctx;
  TinyRun() {
    testing::MakeTinyCatalog(dir / "catalog", 24, 30, 64, 96, 11);
    options.catalog = dir / "catalog" / "catalog.csv";
    options.interactions = dir / "catalog" / "interactions.csv";
    options.preprocess.resize = 40;
    options.preprocess.crop = 32;
    options.preprocess.shard_size = 7;  // several shards
    options.preprocess.max_failed_fraction = 0.2;
    options.reduce.pca.dims = 8;
    options.split = "leave-last-out";
    options.evaluate.label_column = "category";
    ctx.workdir = dir / "work";
    ctx.threads = 2;
  }
};

bool AllReused(const RunReport& r) {
  for (auto& s : r.stages)
    if (!s.reused) return false;
  return !r.stages.empty();
}

TEST(Pipeline, SecondRunRecomputesNothingAndParamChangeRerunsDownstream) {
  TinyRun t;
  RunReport first = pipeline::Run(t.options, t.ctx);
  ASSERT_EQ(first.stages.size(), 6u);
  for (auto& s : first.stages) EXPECT_FALSE(s.reused) << s.stage;
  std::string recs = testing::ReadText(first.recommendations);

  RunReport second = pipeline::Run(t.options, t.ctx);
  EXPECT_TRUE(AllReused(second));
  EXPECT_EQ(testing::ReadText(second.recommendations), recs);

  t.options.reduce.pca.dims = 6;
  RunReport third = pipeline::Run(t.options, t.ctx);
  std::map<std::string, bool> reused;
  for (auto& s : third.stages) reused[s.stage] = s.reused;
  EXPECT_TRUE(reused["preprocess"]);
  EXPECT_TRUE(reused["extract"]);
  EXPECT_FALSE(reused["reduce"]);
  EXPECT_TRUE(reused["split"]);
  EXPECT_FALSE(reused["recommend"]);
  EXPECT_FALSE(reused["evaluate"]);
  // Both reduce versions live side by side.
  int versions = 0;
  for (auto& e : fs::directory_iterator(t.ctx.workdir / "reduce"))
    if (e.is_directory() && e.path().filename().string()[0] != '.') ++versions;
  EXPECT_EQ(versions, 2);
  // A bitwise-identical rerun from scratch in another workdir gives the same recommendations.
  t.options.reduce.pca.dims = 8;
  RunContext fresh = t.ctx;
  fresh.workdir = t.dir / "work2";
  fresh.threads = 1;
  RunReport other = pipeline::Run(t.options, fresh);
  EXPECT_EQ(testing::ReadText(other.recommendations), recs) << "deterministic across thread counts";
}

TEST(Pipeline, OutputsFollowTheFixedFormatsAndAwkwardFilesAreReported) {
  TinyRun t;
  RunReport r = pipeline::Run(t.options, t.ctx);
  CsvTable recs = ReadCsv(r.recommendations);
  EXPECT_EQ(recs.header, (std::vector<std::string>{"user_id", "rank", "item_id", "score", "reason"}));
  ASSERT_FALSE(recs.rows.empty());
  EXPECT_EQ(recs.rows[0][1], "1");
  CsvTable sim = ReadCsv(r.similar_items);
  EXPECT_EQ(sim.header, (std::vector<std::string>{"item_id", "rank", "neighbor_id", "score", "source"}));
  // The unreadable sample file is a per-image failure with a reason; every other photo decoded.
  Artifact pre = OpenLatest(t.ctx.workdir, "preprocess");
  ASSERT_EQ(pre.manifest["failures"].size(), 1u);
  EXPECT_NE(pre.manifest["failures"][0]["file"].get<std::string>().find("broken"), std::string::npos);
  EXPECT_EQ(pre.manifest["counts"]["images_failed"], 1);
  // Seen items are never recommended.
  Artifact split = OpenLatest(t.ctx.workdir, "split");
  Interactions train = ReadInteractions(split.File("train.csv"));
  std::set<std::pair<std::string, std::string>> seen;
  for (auto& x : train.rows) seen.insert({x.user_id, x.item_id});
  for (auto& row : recs.rows) EXPECT_FALSE(seen.count({row[0], row[2]})) << row[0] << " " << row[2];
  json report = json::parse(testing::ReadText(r.report));
  EXPECT_GT(report["users_evaluated"].get<int>(), 0);
  EXPECT_TRUE(report.contains("same_label_precision"));
}

TEST(Pipeline, RegressionGateFailsOnADrop) {
  TinyRun t;
  RunReport r = pipeline::Run(t.options, t.ctx);
  json base = json::parse(testing::ReadText(r.report));
  base["model"]["hr"] = base["model"]["hr"].get<double>() + 0.5;  // pretend we used to be much better
  testing::WriteText(t.dir / "base.json", base.dump());
  t.options.evaluate.baseline = t.dir / "base.json";
  EXPECT_THROW(pipeline::Run(t.options, t.ctx), RegressionError);
  base["model"]["hr"] = base["model"]["hr"].get<double>() - 0.5;
  testing::WriteText(t.dir / "base.json", base.dump());
  EXPECT_NO_THROW(pipeline::Run(t.options, t.ctx));
}

TEST(Pipeline, MissingCatalogIsAClearInputError) {
  TinyRun t;
  t.options.catalog = t.dir / "nope.csv";
  try {
    pipeline::Run(t.options, t.ctx);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.csv"), std::string::npos);
  }
}

}  // namespace
}  // namespace visrec::pipeline

namespace visrec::pipeline {
namespace {

TEST(Pipeline, TooManyFailedPhotosIsExitCode7AndWritesNothing) {
  TinyRun t;
  t.options.preprocess.max_failed_fraction = 0.0;  // the sample's one unreadable file is too many
  try {
    pipeline::Run(t.options, t.ctx);
    FAIL();
  } catch (const TooManyFailuresError& e) {
    EXPECT_EQ(e.code(), ExitCode::kTooManyFailures);
    EXPECT_NE(std::string(e.what()).find("--max-failed-fraction"), std::string::npos) << e.what();
  }
  EXPECT_THROW(OpenLatest(t.ctx.workdir, "preprocess"), ArtifactError) << "no artifact on failure";
}

TEST(Pipeline, SampleScalesWithoutQuadraticCost) {
  testing::TempDir d;
  sample::SampleOptions s;
  s.out_dir = d / "big";
  s.items = 6000;  // above the per-user browsing window
  s.users = 300;
  s.min_side = 32;
  s.max_side = 40;
  s.awkward = false;
  auto sum = sample::GenerateSample(s);
  EXPECT_EQ(sum.items, 6000);
  Interactions in = ReadInteractions(sum.interactions_csv);
  std::set<std::string> items;
  for (auto& x : in.rows) items.insert(x.item_id);
  EXPECT_GT(items.size(), 500u) << "users reach far into the catalog, not just its start";
}

}  // namespace
}  // namespace visrec::pipeline
