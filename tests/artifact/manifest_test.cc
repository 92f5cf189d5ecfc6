#include "visrec/artifact/contracts.h"
#include "visrec/artifact/manifest.h"

#include <gtest/gtest.h>

#include <functional>

#include "../test_util.h"
#include "visrec/artifact/artifact.h"
#include "visrec/evaluate/evaluate.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec {

enum class TestShade { kLight, kDark };
template <>
struct ChoiceNames<TestShade> {
  static constexpr std::pair<TestShade, const char*> kNames[] = {{TestShade::kLight, "light"},
                                                                 {TestShade::kDark, "dark"}};
};

namespace {

// An artifact of `stage` with these params, counts and extra (one small output).
Artifact Make(const fs::path& workdir, const std::string& stage, const json& params,
              const json& counts = json::object(), const json& extra = json::object(),
              std::vector<ArtifactInput> inputs = {{"in", "file", "/x", "abc"}}) {
  ArtifactBuilder b(workdir, stage, 1, params, std::move(inputs));
  WriteFileAtomic(b.Path("ids.txt"), "a\n");
  b.AddOutput("ids.txt");
  b.counts() = counts;
  b.extra() = extra;
  b.AddFailure("c", "c.jpg", "broken");
  return b.Commit();
}

// The ArtifactError `fn` throws; fails the test when it throws nothing or another error.
std::string ArtifactErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ArtifactError& e) {
    EXPECT_EQ(e.code(), ExitCode::kArtifact);
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "another error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(Manifest, TypedHeaderAndCheckedGettersThatNeverInventAValue) {
  testing::TempDir t;
  const Artifact a = Make(t.path(), "demo", {{"n", 3}, {"name", "x"}, {"ratio", 0.5}, {"on", true}}, {{"rows", 2}},
                          {{"note", "y"}}, {{"catalog", "file", "/c.csv", "d1"}, {"other", "file", "/o", "d2"}});
  const Manifest& m = a.manifest;
  EXPECT_EQ(m.stage, "demo");
  EXPECT_EQ(m.stage_version, 1);
  EXPECT_EQ(m.key, a.key);
  EXPECT_FALSE(m.manifest_sha256.empty());
  ASSERT_EQ(m.inputs.size(), 2u);
  EXPECT_EQ(m.InputsWithRole("catalog").size(), 1u);
  EXPECT_EQ(m.InputsWithRole("catalog")[0].digest, "d1");
  EXPECT_TRUE(m.InputsWithRole("missing").empty());
  ASSERT_TRUE(m.HasOutput("ids.txt"));
  EXPECT_EQ(m.FindOutput("ids.txt")->bytes, 2u);
  EXPECT_FALSE(m.HasOutput("other.txt"));
  ASSERT_EQ(m.failures.size(), 1u);
  EXPECT_EQ(m.failures[0].reason, "broken");

  EXPECT_EQ(m.Param<int>("n"), 3);
  EXPECT_EQ(m.Param<std::string>("name"), "x");
  EXPECT_EQ(m.Param<double>("ratio"), 0.5);
  EXPECT_EQ(m.Param<double>("n"), 3.0) << "an integer is a number";
  EXPECT_TRUE(m.Param<bool>("on"));
  EXPECT_EQ(m.Count<int64_t>("rows"), 2);
  EXPECT_EQ(m.Extra<std::string>("note"), "y");
  EXPECT_FALSE(m.OptionalParam<std::string>("shard").has_value());
  EXPECT_EQ(m.OptionalParam<int>("n"), 3);

  // Missing: named with the artifact, its section and the fix; never a default.
  std::string e = ArtifactErrorOf([&] { m.Param<int>("crop"); });
  EXPECT_NE(e.find("has no params.crop"), std::string::npos) << e;
  EXPECT_NE(e.find(a.dir.string()), std::string::npos) << e;
  EXPECT_NE(e.find("--force"), std::string::npos) << e;
  e = ArtifactErrorOf([&] { m.Count<int64_t>("users"); });
  EXPECT_NE(e.find("counts.users"), std::string::npos) << e;
  // Mistyped: named too, with the value found; also for an optional key that is present.
  e = ArtifactErrorOf([&] { m.Param<int>("name"); });
  EXPECT_NE(e.find("bad params.name"), std::string::npos) << e;
  EXPECT_NE(e.find("\"x\""), std::string::npos) << e;
  e = ArtifactErrorOf([&] { m.OptionalParam<std::string>("n"); });
  EXPECT_NE(e.find("bad params.n"), std::string::npos) << e;
  e = ArtifactErrorOf([&] { m.Param<int>("ratio"); });
  EXPECT_NE(e.find("bad params.ratio"), std::string::npos) << e << ": a fraction is not an integer";
}

// A choice is recorded by name (JSON holds "dark", never 1) and read back by name; a name the
// reader does not know is named with the choices.
TEST(Manifest, ChoicesAreRecordedAndReadByName) {
  EXPECT_EQ(json(TestShade::kDark), "dark");
  EXPECT_EQ((json{{"shade", TestShade::kLight}}).dump(), R"({"shade":"light"})");
  EXPECT_EQ(json("dark").get<TestShade>(), TestShade::kDark);
  EXPECT_THROW(json("grey").get<TestShade>(), std::invalid_argument);
  EXPECT_EQ(ChoiceText<TestShade>(), "light | dark");
  EXPECT_EQ(FindChoice<TestShade>("Dark"), std::nullopt) << "names are recorded exactly";
  testing::TempDir t;
  const Artifact a = Make(t.path(), "demo", {{"shade", "dark"}, {"other", "grey"}});
  EXPECT_EQ(a.manifest.ParamChoice<TestShade>("shade"), TestShade::kDark);
  const std::string e = ArtifactErrorOf([&] { a.manifest.ParamChoice<TestShade>("other"); });
  EXPECT_NE(e.find("'grey' is not light | dark"), std::string::npos) << e;
}

TEST(Manifest, AHeaderEntryWithoutItsFieldsIsDamageNamedOnOpen) {
  testing::TempDir t;
  const Artifact a = Make(t.path(), "demo", {{"n", 1}});
  const fs::path mp = a.dir / "manifest.json";
  const std::string good = ReadFileBytes(mp);
  struct Case {
    std::function<void(json&)> edit;
    std::string says;
  };
  const Case cases[] = {
      {[](json& m) { m["inputs"][0].erase("digest"); }, "'inputs' has an entry without a 'digest'"},
      {[](json& m) { m["inputs"] = json::object(); }, "'inputs' is not a list"},
      {[](json& m) { m["failures"][0]["reason"] = 7; }, "'failures' has an entry without a 'reason'"},
      {[](json& m) { m["counts"] = json::array(); }, "'counts' is not an object"},
      {[](json& m) { m["tag"] = 3; }, "'tag' is not a string"},
  };
  for (const auto& c : cases) {
    json m = json::parse(good);
    c.edit(m);
    WriteFileAtomic(mp, m.dump());
    const std::string e = ArtifactErrorOf([&] { OpenArtifact(a.dir); });
    EXPECT_NE(e.find(c.says), std::string::npos) << e;
    EXPECT_NE(e.find("is unusable"), std::string::npos) << e;
  }
  WriteFileAtomic(mp, good);
  EXPECT_NO_THROW(OpenArtifact(a.dir));
}

// Each summary written with ToJson reads back field for field, and the one-line summary is the
// stage's own; a count removed from the manifest is named rather than shown as 0.
TEST(Contracts, SummariesRoundTripAndMissingCountsAreNamed) {
  testing::TempDir t;
  contract::PreprocessSummary pre{10, 9, 1, 4, 5, 6, 0, 2, 1, 0};
  contract::ExtractSummary ex{6, 512, 9, 5, 4, 0, 3, true};
  contract::ReduceSummary red{6, 512, 64, std::nullopt};
  contract::SplitSummary split{90, 10, 2};
  contract::EvaluateSummary ev{10};
  contract::RecommendSummary rec;
  rec.users = 5;
  rec.items = 6;
  rec.cold_items_recommended = 2;
  rec.has_recommendations = true;
  contract::FinetuneSummary ft;
  ft.classes = 3;
  ft.items_train = 7;
  ft.epochs_run = 4;
  ft.best_epoch = 2;
  ft.test_accuracy = 0.75;

  const auto pre_a = Make(t.path(), "preprocess", json::object(), pre.ToJson());
  EXPECT_EQ(contract::PreprocessSummary::From(pre_a.manifest).ToJson(), pre.ToJson());
  EXPECT_EQ(contract::SummaryLine(pre_a.manifest), "9 images (5 computed, 4 reused), 1 failed");

  const auto ex_a = Make(t.path(), "extract", json::object(), ex.ToJson(), {{"untrained", true}});
  const contract::ExtractSummary ex_back = contract::ExtractSummary::From(ex_a.manifest);
  EXPECT_EQ(ex_back.ToJson(), ex.ToJson());
  EXPECT_EQ(ex_back.shards, 3);
  EXPECT_TRUE(ex_back.untrained);
  EXPECT_EQ(contract::SummaryLine(ex_a.manifest).rfind("6 items x 512 (5 photos computed, 4 reused), UNTRAINED", 0),
            0u);
  EXPECT_FALSE(contract::ExtractSummary{}.ToJson().contains("shards")) << "only a merge records its shards";

  const auto red_a = Make(t.path(), "reduce", json::object(), red.ToJson(),
                          {{"drift", {{"fit_explained_share", 0.5}, {"new_data_explained_share", 0.25}}}});
  EXPECT_EQ(contract::SummaryLine(red_a.manifest),
            "6 items -> 64 dims, applied the fit in use (its basis explains 25.0% of the new data, 50.0% at fit)");

  const auto split_a = Make(t.path(), "split", json::object(), split.ToJson());
  EXPECT_EQ(contract::SummaryLine(split_a.manifest), "90 train / 10 test");
  const auto ev_a = Make(t.path(), "evaluate", json::object(), ev.ToJson());
  EXPECT_EQ(contract::SummaryLine(ev_a.manifest), "10 users evaluated");
  const auto ft_a =
      Make(t.path(), "finetune", json::object(), ft.ToJson(), {{"test_accuracy", 0.75}, {"best_epoch", 2}});
  EXPECT_EQ(contract::SummaryLine(ft_a.manifest),
            "3 classes, 7/0/0 items train/dev/test, test accuracy 0.750 (epoch 2 of 4)");

  const json rec_params = {
      {"k", 10},     {"similar_k", 10}, {"neighbors", 100}, {"half_life_days", 0.0}, {"bad_rows", "skip"},
      {"w_cf", 1.0}, {"w_visual", 2.0}, {"w_text", 0.5}};
  const auto rec_a = Make(t.path(), "recommend", rec_params, rec.ToJson());
  EXPECT_EQ(contract::SummaryLine(rec_a.manifest), "5 users, 6 items, 2 cold items recommended");
  const contract::RecommendParams rp = contract::RecommendParams::From(rec_a.manifest);
  EXPECT_EQ(rp.blend.mode, "fixed") << "without extra.blend the run used the fixed weights of its params";
  EXPECT_EQ(rp.blend.w_visual, 2.0);
  const auto tuned = Make(t.path(), "recommend", rec_params, rec.ToJson(),
                          {{"blend", {{"mode", "auto"}, {"w_cf", 1.0}, {"w_visual", 0.0}, {"w_text", 3.0}}}});
  EXPECT_EQ(contract::RecommendParams::From(tuned.manifest).blend.w_text, 3.0);
  EXPECT_EQ(contract::RecommendParams::From(tuned.manifest).blend.mode, "auto");
  const auto half_blend = Make(t.path(), "recommend", rec_params, rec.ToJson(), {{"blend", {{"mode", "auto"}}}});
  EXPECT_NE(ArtifactErrorOf([&] { contract::RecommendParams::From(half_blend.manifest); }).find("extra.blend.w_cf"),
            std::string::npos);

  // A shard's lists and a user part have their own counts and no top-K of their own.
  const auto shard =
      Make(t.path(), "recommend", {{"shard", "1/3"}, {"neighbors", 100}}, {{"items", 6}, {"shard_items", 2}});
  EXPECT_EQ(contract::SummaryLine(shard.manifest),
            "shard 1/3 of the similar-item lists: 2 of 6 items (merge with --merge-shards)");
  // An applied PCA records only its mode; a fit its options (dims, or the variance target that chose them).
  const auto applied = Make(t.path(), "reduce", {{"mode", "apply"}}, red.ToJson());
  EXPECT_EQ(contract::ReduceParams::From(applied.manifest).Describe(), "apply");
  EXPECT_FALSE(contract::ReduceParams::From(applied.manifest).whiten.has_value());
  const auto by_variance =
      Make(t.path(), "reduce", {{"mode", "fit"}, {"method", "auto"}, {"whiten", true}, {"variance_target", 0.9}},
           red.ToJson());
  EXPECT_EQ(contract::ReduceParams::From(by_variance.manifest).Describe(), "auto variance 0.90 whitened");
  const auto sizeless = Make(t.path(), "reduce", {{"mode", "fit"}, {"method", "auto"}, {"whiten", true}}, red.ToJson());
  EXPECT_NE(ArtifactErrorOf([&] { contract::ReduceParams::From(sizeless.manifest); }).find("params.dims"),
            std::string::npos);

  // A count removed: the summary names it (and `run`/`inspect` with it) instead of printing 0.
  for (const char* name : {"images_reused", "photos_computed"}) {
    const Artifact& a = std::string(name) == "images_reused" ? pre_a : ex_a;
    json m = json::parse(ReadFileBytes(a.dir / "manifest.json"));
    m["counts"].erase(name);
    WriteFileAtomic(a.dir / "manifest.json", m.dump());
    const std::string e = ArtifactErrorOf([&] { contract::SummaryLine(OpenArtifact(a.dir).manifest); });
    EXPECT_NE(e.find(std::string("has no counts.") + name), std::string::npos) << e;
  }
}

TEST(Contracts, PreprocessParamsReadThePixelContractAndItsSources) {
  testing::TempDir t;
  json params = {{"resize", 256}, {"crop", 224}, {"mean", {0.1, 0.2, 0.3}}, {"std", {0.4, 0.5, 0.6}}};
  const auto plain = Make(t.path(), "preprocess", params, json::object(),
                          {{"input_source", {{"crop", "option"}, {"mean", "model sidecar m.json"}}}});
  const contract::PreprocessParams p = contract::PreprocessParams::From(plain.manifest);
  EXPECT_EQ(p.crop, 224);
  EXPECT_EQ(p.std[2], 0.6);
  EXPECT_EQ(p.shard, "");
  EXPECT_TRUE(p.crop_from_option);
  EXPECT_FALSE(p.mean_from_option);
  EXPECT_FALSE(p.std_from_option);
  params["shard"] = "1/3";
  params.erase("crop");
  const auto shard = Make(t.path(), "preprocess", params);
  EXPECT_NE(ArtifactErrorOf([&] { contract::PreprocessParams::From(shard.manifest); }).find("has no params.crop"),
            std::string::npos);
}

// A stage reading a parent whose manifest lacks a parameter it needs stops with exit 4 naming it
// (evaluate reading a recommend artifact without its top-K), instead of assuming a value.
TEST(Contracts, AReaderStopsOnAParentWithoutAParameterItNeeds) {
  testing::TempDir t;
  testing::WriteText(t.path() / "test.csv", "user_id,item_id\nu1,a\n");
  testing::WriteText(t.path() / "train.csv", "user_id,item_id\nu1,b\n");
  ArtifactBuilder b(t.path() / "w", "recommend", 1, {{"similar_k", 10}}, {});
  WriteFileAtomic(b.Path("recommendations.csv"), "user_id,rank,item_id,score,reason\n");
  b.AddOutput("recommendations.csv");
  const Artifact rec = b.Commit();
  evaluate::EvaluateOptions o;
  o.recommend = rec.dir;
  o.test = t.path() / "test.csv";
  o.train = t.path() / "train.csv";
  RunContext ctx;
  ctx.workdir = t.path() / "w";
  const std::string e = ArtifactErrorOf([&] { evaluate::RunEvaluate(o, ctx); });
  EXPECT_NE(e.find("has no params.k"), std::string::npos) << e;
  EXPECT_NE(e.find(rec.dir.string()), std::string::npos) << e;
}

}  // namespace
}  // namespace visrec
