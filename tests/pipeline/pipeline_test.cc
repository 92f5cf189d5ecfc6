#include "visrec/pipeline/pipeline.h"

#include <gtest/gtest.h>

#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../test_util.h"
#include "visrec/artifact/csv.h"
#include "visrec/sample/sample.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

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
    options.split = evaluate::SplitMethod::kLeaveLastOut;
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

TEST(Pipeline, FinetuneRunsBeforeExtractWhichUsesItsWeightsAndEvaluateJudgesHeldOutItems) {
  TinyRun t;
  t.options.finetune.label_column = "category";
  t.options.finetune.epochs = 2;
  RunReport r = pipeline::Run(t.options, t.ctx);
  ASSERT_GE(r.stages.size(), 3u);
  EXPECT_EQ(r.stages[0].stage, "preprocess");
  EXPECT_EQ(r.stages[1].stage, "finetune");
  EXPECT_EQ(r.stages[2].stage, "extract");
  Artifact ft = OpenArtifact(r.stages[1].dir), ex = OpenArtifact(r.stages[2].dir);
  std::string weights_used;
  for (const auto& in : ex.manifest_json["inputs"])
    if (in["role"] == "weights") weights_used = in["path"].get<std::string>();
  EXPECT_EQ(fs::path(weights_used), fs::absolute(ft.File("weights.pt")));
  EXPECT_FALSE(ex.manifest_json["extra"]["untrained"].get<bool>());
  // Same-label precision is computed over finetune's held-out test items only.
  json report = json::parse(testing::ReadText(r.report));
  ASSERT_TRUE(report.contains("label_items")) << report.dump();
  EXPECT_EQ(report["label_items"]["listed"], ft.manifest_json["counts"]["items_test"]);
  EXPECT_TRUE(report["same_label_precision"].contains("visual"));
  // With a split, the table says the lists were trained on the training part only.
  EXPECT_NE(FormatRunReport(r).find("trained on the training part only"), std::string::npos) << FormatRunReport(r);
  // Trained weights: neither the run table nor inspect calls the features untrained.
  EXPECT_EQ(FormatRunReport(r).find("UNTRAINED"), std::string::npos) << FormatRunReport(r);
  EXPECT_EQ(Inspect(r.stages.back().dir).find("UNTRAINED"), std::string::npos);
  // inspect shows the training summary.
  const std::string shown = Inspect(ft.dir);
  EXPECT_NE(shown.find("test accuracy"), std::string::npos) << shown;
  EXPECT_NE(shown.find("test per class"), std::string::npos) << shown;
  // Rerun: every stage, finetune included, is up to date.
  EXPECT_TRUE(AllReused(pipeline::Run(t.options, t.ctx)));
  // A model file cannot be fine-tuned.
  t.options.extract.model_file = t.dir / "model.pt";
  EXPECT_THROW(pipeline::Run(t.options, t.ctx), UsageError);
}

// run --split --final: the report scores train-only lists; the lists to serve come from every
// interaction, so each held-out item is now history and never recommended to its user.
TEST(Pipeline, FinalRecommendsFromAllInteractionsAfterEvaluatingTheSplit) {
  TinyRun t;
  t.options.final = true;
  t.options.recommend.k = 20;
  RunReport r = pipeline::Run(t.options, t.ctx);
  ASSERT_FALSE(r.evaluated_recommendations.empty());
  EXPECT_NE(r.recommendations, r.evaluated_recommendations);
  const Artifact fin = OpenArtifact(fs::path(r.recommendations).parent_path());
  const Artifact evaluated = OpenArtifact(fs::path(r.evaluated_recommendations).parent_path());
  auto interactions_of = [](const Artifact& a) {
    for (const auto& in : a.manifest_json["inputs"])
      if (in["role"] == "interactions") return fs::path(in["path"].get<std::string>()).filename().string();
    return std::string();
  };
  EXPECT_EQ(interactions_of(fin), "interactions.csv");
  EXPECT_EQ(interactions_of(evaluated), "train.csv");
  EXPECT_EQ(OpenLatest(t.ctx.workdir, "recommend").dir, fin.dir) << "query and explain default to the lists to serve";
  std::set<std::pair<std::string, std::string>> held_out, served, scored;
  for (const auto& row : ReadCsv(OpenLatest(t.ctx.workdir, "split").File("test.csv")).rows)
    held_out.insert({row[0], row[1]});
  for (const auto& row : ReadCsv(fin.File("recommendations.csv")).rows) served.insert({row[0], row[2]});
  for (const auto& row : ReadCsv(evaluated.File("recommendations.csv")).rows) scored.insert({row[0], row[2]});
  int in_scored = 0;
  for (const auto& p : held_out) {
    EXPECT_EQ(served.count(p), 0u) << p.first << " " << p.second << " is history now";
    in_scored += int(scored.count(p));
  }
  EXPECT_GT(in_scored, 0) << "the train-only lists find some held-out items (the evaluation is not empty)";
  const std::string table = FormatRunReport(r);
  EXPECT_NE(table.find("final: all interactions"), std::string::npos) << table;
  EXPECT_NE(table.find("serve those"), std::string::npos) << table;
  EXPECT_TRUE(AllReused(pipeline::Run(t.options, t.ctx)));
  t.options.split = std::nullopt;
  EXPECT_THROW(pipeline::Run(t.options, t.ctx), UsageError);
}

TEST(Pipeline, UntrainedFeaturesAreSaidLoudlyInTheRunTableAndInspect) {
  TinyRun t;  // no weights: the built-in ResNet is randomly initialised
  RunReport r = pipeline::Run(t.options, t.ctx);
  const std::string table = FormatRunReport(r);
  EXPECT_NE(table.find("UNTRAINED model"), std::string::npos) << table;
  // inspect warns on the extract artifact and on everything built on its features.
  for (const auto& line : r.stages) {
    if (line.stage == "preprocess" || line.stage == "split") continue;
    const std::string shown = Inspect(line.dir);
    EXPECT_EQ(shown.rfind("WARNING    UNTRAINED model", 0), 0u) << line.stage << ":\n" << shown.substr(0, 300);
  }
  EXPECT_EQ(Inspect(r.stages[0].dir).find("UNTRAINED"), std::string::npos) << "preprocess has no features";
}

// The model's sidecar declares its input: preprocess follows it unless an option says otherwise,
// records where each value came from, and extract normalizes as declared.
TEST(Pipeline, ModelDeclaresThePreprocessingUnlessAnOptionSaysOtherwise) {
  TinyRun t;
  t.options.split = std::nullopt;
  fs::copy_file(fs::path(VISREC_FIXTURES_DIR) / "extract" / "tiny.pt", t.dir / "m.pt");
  testing::WriteText(t.dir / "m.json",
                     R"({"input": {"resize": 44, "crop": 40, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2]}})");
  t.options.extract.model_file = t.dir / "m.pt";
  t.options.preprocess.follow_model = {true, true, true, true};  // what the CLI does for flags not given
  t.options.reduce.pca.dims = 4;                                 // the tiny model has 6 features
  RunReport r = pipeline::Run(t.options, t.ctx);
  Artifact pre = OpenArtifact(r.stages[0].dir), ex = OpenArtifact(r.stages[1].dir);
  EXPECT_EQ(pre.manifest_json["params"]["resize"], 44);
  EXPECT_EQ(pre.manifest_json["params"]["crop"], 40);
  const std::string declared = "model sidecar " + (t.dir / "m.json").string();
  EXPECT_EQ(pre.manifest_json["extra"]["input_source"]["crop"], declared);
  EXPECT_EQ(pre.manifest_json["extra"]["input_source"]["mean"], declared);
  EXPECT_EQ(ex.manifest_json["params"]["normalize_mean"][1], 0.4);
  // An explicit crop wins and is recorded as such; the rest still follows the model.
  t.options.preprocess.follow_model.crop = false;
  t.options.preprocess.crop = 36;
  pre = OpenArtifact(pipeline::Run(t.options, t.ctx).stages[0].dir);
  EXPECT_EQ(pre.manifest_json["params"]["crop"], 36);
  EXPECT_EQ(pre.manifest_json["params"]["resize"], 44);
  EXPECT_EQ(pre.manifest_json["extra"]["input_source"]["crop"], "option");
  // A sidecar with a wrong or impossible declaration is an input error naming the file and the
  // field, in preprocess and in extract alike (extract reads the normalization itself).
  for (const auto& [text, field] :
       std::vector<std::pair<std::string, std::string>>{{R"({"input": {"resize": "big"}})", "input.resize"},
                                                        {R"({"input": {"resize": 16, "crop": 32}})", "input.resize"},
                                                        {R"({"input": {"shape": [3, -5, -5]}})", "input.shape"},
                                                        {R"({"input": {"std": [0, 1, 1]}})", "input.std"},
                                                        {R"({"input": {"mean": [1e300, 0, 0]}})", "input.mean"},
                                                        {R"({"input": [1, 2]})", "\"input\""},
                                                        {R"([1, 2])", "JSON object"}}) {
    testing::WriteText(t.dir / "m.json", text);
    testing::ExpectThrowWith<InputError>([&] { pipeline::Run(t.options, t.ctx); }, {"m.json", field.c_str()});
    extract::ExtractOptions eo;
    eo.model_file = t.dir / "m.pt";
    testing::ExpectThrowWith<InputError>([&] { extract::Run(eo, t.ctx); }, {"m.json", field.c_str()});
  }
  // Built-in models declare torchvision's recipe.
  auto builtin = preprocess::ReadModelInput("", "resnet50");
  ASSERT_TRUE(builtin.has_value());
  EXPECT_EQ(builtin->resize, 256);
  EXPECT_EQ(builtin->crop, 224);
  EXPECT_FALSE(preprocess::ReadModelInput("", "").has_value());
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
  ASSERT_EQ(pre.manifest_json["failures"].size(), 1u);
  EXPECT_NE(pre.manifest_json["failures"][0]["file"].get<std::string>().find("broken"), std::string::npos);
  EXPECT_EQ(pre.manifest_json["counts"]["images_failed"], 1);
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

// Issue 18, item 16: the total row's time stands in the stages' time column; a run without
// interactions says there are no recommendations.
TEST(Pipeline, RunTableColumnsLineUp) {
  RunReport r;
  r.stages = {{"preprocess", false, 5.0, "10 images", "w/p"}, {"recommend", true, 12.0, "3 users", "w/r"}};
  r.similar_items = "w/r/similar_items.csv";
  const std::string table = FormatRunReport(r);
  std::vector<std::string> lines;
  for (size_t a = 0, b; (b = table.find('\n', a)) != std::string::npos; a = b + 1)
    lines.push_back(table.substr(a, b - a));
  size_t pre = 0, total = 0;
  for (const auto& l : lines) {
    if (l.rfind("preprocess", 0) == 0) pre = l.find("5.0s") + 4;
    if (l.rfind("total", 0) == 0) total = l.find("17.0s") + 5;
  }
  ASSERT_GT(pre, 4u);
  EXPECT_EQ(total, pre) << table;
  EXPECT_NE(table.find("recommendations: none (no --interactions given)"), std::string::npos) << table;
  EXPECT_EQ(table.find("training part only"), std::string::npos) << "no split, no note";
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

// The nightly case: yesterday's catalog plus new, changed and removed photos and a day of new
// interactions. Only the changed photos are recomputed, the PCA fit in use is applied (not
// refitted), and every output equals a from-scratch run on the new inputs with that fit.
TEST(Pipeline, NightlyRunRecomputesOnlyWhatChangedAndEqualsAFromScratchRun) {
  TinyRun t;
  t.options.split = std::nullopt;
  t.options.extract.batch_size = 1;  // each photo alone through the model: bitwise batch-independent
  // Trimmed photos: the day's changes then move the PCA basis little enough to be applied, not refitted.
  t.options.preprocess.trim = preprocess::Trim::kAuto;
  RunReport night1 = pipeline::Run(t.options, t.ctx);
  const Artifact fit1 = OpenLatest(t.ctx.workdir, "reduce");
  const Artifact pre1 = OpenLatest(t.ctx.workdir, "preprocess");
  const int64_t photos1 = pre1.manifest_json["counts"]["images_ok"].get<int64_t>();

  // The day's changes: 2 new photos (one on a new item), 1 photo modified in place, 1 removed.
  const fs::path cat = t.dir / "catalog";
  std::vector<std::string> lines = ReadLines(cat / "catalog.csv");
  std::string removed, modified;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string item = lines[i].substr(0, lines[i].find(','));
    const std::string image = lines[i].substr(item.size() + 1, lines[i].find(',', item.size() + 1) - item.size() - 1);
    if (removed.empty() && i + 1 < lines.size() && lines[i + 1].rfind(item + ",", 0) == 0 &&
        image.find(".jpg") != std::string::npos) {
      removed = lines[i];
      lines.erase(lines.begin() + long(i));
      --i;
    } else if (modified.empty() && image.find("_1.jpg") != std::string::npos && lines[i] != removed) {
      modified = image;
    }
  }
  ASSERT_FALSE(removed.empty());
  ASSERT_FALSE(modified.empty());
  cv::Mat img = cv::imread((cat / modified).string());
  ASSERT_FALSE(img.empty());
  cv::rectangle(img, {4, 4, img.cols / 3, img.rows / 3}, cv::Scalar(10, 200, 30), cv::FILLED);
  cv::imwrite((cat / modified).string(), img);
  cv::Mat fresh(80, 70, CV_8UC3, cv::Scalar(250, 250, 250));
  cv::circle(fresh, {35, 40}, 25, cv::Scalar(200, 30, 30), cv::FILLED);
  cv::imwrite((cat / "images" / "NEW_1.jpg").string(), fresh);
  cv::circle(fresh, {35, 40}, 12, cv::Scalar(20, 30, 230), cv::FILLED);
  cv::imwrite((cat / "images" / "P0001_extra.jpg").string(), fresh);
  lines.push_back("P0001,images/P0001_extra.jpg,extra photo,lamp,pink,solid");
  lines.push_back("Z9999,images/NEW_1.jpg,New red ball,ball,red,solid");
  WriteLines(cat / "catalog.csv", lines);
  std::vector<std::string> inter = ReadLines(cat / "interactions.csv");
  inter.push_back("U0001,Z9999,1,2026-12-01T08:00:00Z");
  inter.push_back("U0002,P0003,2,2026-12-01T09:00:00Z");
  WriteLines(cat / "interactions.csv", inter);

  RunReport night2 = pipeline::Run(t.options, t.ctx);
  for (const auto& s : night2.stages) EXPECT_FALSE(s.reused) << s.stage << " should have been recomputed";
  const Artifact pre2 = OpenLatest(t.ctx.workdir, "preprocess");
  const Artifact ex2 = OpenLatest(t.ctx.workdir, "extract");
  const Artifact red2 = OpenLatest(t.ctx.workdir, "reduce");
  EXPECT_EQ(pre2.manifest_json["counts"]["images_computed"], 3) << "2 new photos and 1 modified";
  EXPECT_EQ(pre2.manifest_json["counts"]["images_reused"], photos1 - 1 - 1)
      << "all others but the removed and the modified";
  EXPECT_EQ(ex2.manifest_json["counts"]["photos_computed"], 3);
  EXPECT_EQ(red2.manifest_json["params"]["mode"], "apply") << "the fit in use is applied, not refitted";
  EXPECT_TRUE(red2.manifest_json["extra"].contains("drift"));
  EXPECT_NE(night2.stages[2].detail.find("applied the fit in use"), std::string::npos) << night2.stages[2].detail;

  // From scratch on the new inputs, in a fresh workdir, with the same PCA fit: byte-identical outputs.
  RunContext scratch = t.ctx;
  scratch.workdir = t.dir / "scratch";
  RunOptions o = t.options;
  o.reduce.apply = fit1.dir;
  pipeline::Run(o, scratch);
  for (const auto& [stage, file] :
       std::vector<std::pair<std::string, std::string>>{{"extract", "features.npy"},
                                                        {"reduce", "reduced.npy"},
                                                        {"recommend", "recommendations.csv"},
                                                        {"recommend", "similar_items.csv"}}) {
    EXPECT_EQ(testing::ReadText(OpenLatest(t.ctx.workdir, stage).File(file)),
              testing::ReadText(OpenLatest(scratch.workdir, stage).File(file)))
        << stage << "/" << file << " differs between the nightly run and a from-scratch run";
  }

  // A third night with nothing new recomputes nothing.
  RunReport night3 = pipeline::Run(t.options, t.ctx);
  EXPECT_TRUE(AllReused(night3));
  // The drift rule: with --refit-drop 0, any loss of explained share against fit time refits.
  const double now = red2.manifest_json["extra"]["drift"]["new_data_explained_share"].get<double>();
  const double then = red2.manifest_json["extra"]["drift"]["fit_explained_share"].get<double>();
  RunOptions strict = t.options;
  strict.refit_drop = 0;
  pipeline::Run(strict, t.ctx);
  EXPECT_EQ(OpenLatest(t.ctx.workdir, "reduce").manifest_json["params"]["mode"], now < then ? "fit" : "apply")
      << "explained share now " << now << ", at fit " << then;
  // --refit always refits.
  RunOptions refit = t.options;
  refit.refit = Refit::kAlways;
  pipeline::Run(refit, t.ctx);
  EXPECT_EQ(OpenLatest(t.ctx.workdir, "reduce").manifest_json["params"]["mode"], "fit");
}

}  // namespace
}  // namespace visrec::pipeline
