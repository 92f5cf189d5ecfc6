// The finetune stage end to end on a tiny preprocessed catalog (32 x 32 crops, ResNet-18).
#include "visrec/finetune/finetune.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "visrec/artifact/csv.h"
#include "visrec/extract/extract.h"
#include "visrec/model/resnet.h"
#include "visrec/preprocess/preprocess.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/sha256.h"

namespace visrec::finetune {
namespace {

// A catalog with an extra label column "group": A for three sample categories, B for the other three.
struct Tiny {
  testing::TempDir dir;
  RunContext ctx;
  Artifact pre;
  fs::path catalog;
  Tiny() {
    testing::MakeTinyCatalog(dir / "catalog", 24, 5, 48, 64);
    catalog = dir / "catalog" / "catalog.csv";
    CsvTable t = ReadCsv(catalog);
    const int c = t.Column("category");
    std::string out;
    for (const auto& h : t.header) out += h + ",";
    out += "group\n";
    for (auto row : t.rows) {
      const std::string& cat = row[size_t(c)];
      row.push_back(cat == "tshirt" || cat == "mug" || cat == "bottle" ? "A" : "B");
      out += CsvLine(row);
    }
    WriteFileAtomic(catalog, out);
    ctx.workdir = dir / "work";
    ctx.threads = 1;
    preprocess::PreprocessOptions p;
    p.catalog = catalog;
    p.resize = 36;
    p.crop = 32;
    p.max_failed_fraction = 0.5;
    pre = preprocess::Run(p, ctx).artifact;
  }
  FinetuneOptions Options() const {
    FinetuneOptions o;
    o.preprocess = pre.dir;
    o.label_column = "group";
    o.epochs = 3;
    o.batch_size = 8;
    o.dev_fraction = 0.2;
    o.test_fraction = 0.2;
    return o;
  }
  void Relabel(const std::function<std::string(const std::string&, size_t)>& label_of_item) {
    CsvTable t = ReadCsv(catalog);
    const int c = t.Column("group"), id = t.Column("item_id");
    std::string out;
    for (size_t k = 0; k < t.header.size(); ++k) out += t.header[k] + (k + 1 < t.header.size() ? "," : "\n");
    for (size_t r = 0; r < t.rows.size(); ++r) {
      auto row = t.rows[r];
      row[size_t(c)] = label_of_item(row[size_t(id)], r);
      out += CsvLine(row);
    }
    WriteFileAtomic(catalog, out);
  }
};

TEST(Finetune, ArtifactHoldsWeightsClassesHistoryAndTestSummary) {
  Tiny t;
  FinetuneOptions o = t.Options();
  StageResult r = finetune::Run(o, t.ctx);
  const Artifact& a = r.artifact;
  const json& ex = a.manifest_json["extra"];
  EXPECT_EQ(ex["classes"], json({"A", "B"}));
  EXPECT_EQ(ex["history"].size(), a.manifest_json["counts"]["epochs_run"].get<size_t>());
  EXPECT_GE(ex["test_accuracy"].get<double>(), 0.0);
  EXPECT_LE(ex["test_accuracy"].get<double>(), 1.0);
  EXPECT_EQ(ex["per_class"].size(), 2u);
  EXPECT_TRUE(ex["untrained_start"].get<bool>());
  // Each labelled item is in exactly one part, and the test list is the split's test part.
  CsvTable split = ReadCsv(a.File("split.csv"));
  std::set<std::string> seen, test_items;
  for (const auto& row : split.rows) {
    EXPECT_TRUE(seen.insert(row[0]).second) << row[0] << " listed twice";
    if (row[2] == "test") test_items.insert(row[0]);
  }
  std::set<std::string> listed;
  for (const auto& l : ReadLines(a.File("test_items.txt")))
    if (!l.empty()) listed.insert(l);
  EXPECT_EQ(listed, test_items);
  EXPECT_EQ(int64_t(test_items.size()), a.manifest_json["counts"]["items_test"].get<int64_t>());
  // Confusion rows add up to the test items.
  int64_t confusion_total = 0;
  for (const auto& row : ReadCsv(a.File("confusion.csv")).rows) confusion_total += std::stoll(row[2]);
  EXPECT_EQ(confusion_total, int64_t(test_items.size()));
  // Same inputs and parameters: up to date.
  EXPECT_TRUE(finetune::Run(o, t.ctx).reused);
}

TEST(Finetune, WeightsLoadIntoExtractAndOnlyTheTrainedBlockChanges) {
  Tiny t;
  extract::ExtractOptions eo;
  eo.preprocess = t.pre.dir;
  RunContext untrained_ctx = t.ctx;
  untrained_ctx.workdir = t.dir / "w-untrained";
  auto untrained = extract::Run(eo, untrained_ctx).artifact.ReadArray<float>("photo_features.npy");

  auto features_with = [&](const std::string& train) {
    FinetuneOptions o = t.Options();
    o.train = train;
    RunContext c = t.ctx;
    c.workdir = t.dir / ("w-" + train);
    Artifact ft = finetune::Run(o, c).artifact;
    extract::ExtractOptions e = eo;
    e.weights = ft.File("weights.pt");
    Artifact ex = extract::Run(e, c).artifact;
    EXPECT_FALSE(ex.manifest_json["extra"]["untrained"].get<bool>());
    return ex.ReadArray<float>("photo_features.npy");
  };
  auto max_diff = [&](const NpyArray<float>& a) {
    double worst = 0;
    for (size_t i = 0; i < a.data.size(); ++i) worst = std::max(worst, double(std::abs(a.data[i] - untrained.data[i])));
    return worst;
  };
  // Head only: the backbone is frozen, so extract's features are the untrained ones.
  auto head = features_with("head");
  ASSERT_EQ(head.shape, untrained.shape);
  EXPECT_LE(max_diff(head), 1e-6);
  // Last block trained: the features move.
  auto last = features_with("last-block");
  ASSERT_EQ(last.shape, untrained.shape);
  EXPECT_GT(max_diff(last), 1e-3);
}

TEST(Finetune, DeterministicOnCpuWithOneThreadAndAFixedSeed) {
  Tiny t;
  FinetuneOptions o = t.Options();
  o.train = "last-block";
  auto weights_digest = [&](const std::string& name, uint64_t seed) {
    RunContext c = t.ctx;
    c.workdir = t.dir / name;
    c.threads = 1;
    FinetuneOptions x = o;
    x.seed = seed;
    Artifact a = finetune::Run(x, c).artifact;
    return std::make_pair(Sha256File(a.File("weights.pt")), Sha256File(a.File("head.pt")));
  };
  auto a = weights_digest("d1", 3), b = weights_digest("d2", 3), c = weights_digest("d3", 4);
  EXPECT_EQ(a, b) << "same seed, one thread: the same weights, bit for bit";
  EXPECT_NE(a.second, c.second) << "another seed trains another head";
}

TEST(Finetune, TrainingLossFallsAndEarlyStoppingKeepsTheBestDevEpoch) {
  Tiny t;
  FinetuneOptions o = t.Options();
  o.train = "head";
  o.epochs = 40;
  o.patience = 2;
  o.lr = 3e-3;
  Artifact a = finetune::Run(o, t.ctx).artifact;
  const json& h = a.manifest_json["extra"]["history"];
  ASSERT_GE(h.size(), 2u);
  EXPECT_LT(h.back()["train_loss"].get<double>(), h.front()["train_loss"].get<double>());
  const int best = a.manifest_json["extra"]["best_epoch"].get<int>();
  EXPECT_TRUE(a.manifest_json["extra"]["stopped_early"].get<bool>()) << h.size() << " epochs";
  EXPECT_EQ(int(h.size()), best + o.patience) << "stops `patience` epochs after the best";
  double best_dev = -1;
  for (const auto& e : h) best_dev = std::max(best_dev, e["dev_accuracy"].get<double>());
  EXPECT_DOUBLE_EQ(h[size_t(best - 1)]["dev_accuracy"].get<double>(), best_dev);
  EXPECT_DOUBLE_EQ(a.manifest_json["extra"]["dev_accuracy"].get<double>(), best_dev);
}

TEST(Finetune, BadLabelsGiveClearErrors) {
  Tiny t;
  FinetuneOptions o = t.Options();
  o.label_column = "no_such_column";
  try {
    finetune::Run(o, t.ctx);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no column 'no_such_column'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("group"), std::string::npos) << "lists the columns: " << e.what();
  }
  o = t.Options();
  o.catalog = t.catalog;
  t.Relabel([](const std::string&, size_t) { return "same"; });
  EXPECT_THROW(finetune::Run(o, t.ctx), InputError);
  t.Relabel([](const std::string& id, size_t) { return id == "P0001" ? "rare" : "common"; });
  try {
    finetune::Run(o, t.ctx);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'rare' (P0001)"), std::string::npos) << e.what();
  }
  // Two photo rows of one item disagreeing: the error names both rows.
  CsvTable cat = ReadCsv(t.catalog);
  ASSERT_EQ(cat.rows[0][0], "P0001");
  ASSERT_EQ(cat.rows[1][0], "P0001") << "the fixture's first item has two photos";
  t.Relabel([](const std::string& id, size_t row) { return row == 1 ? "A" : (id < "P0010" ? "B" : "A"); });
  try {
    finetune::Run(o, t.ctx);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 3: item 'P0001' has group 'A' but line 2 says 'B'"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(t.ctx.workdir / "finetune" / "latest"));
}

TEST(Finetune, DivergedTrainingStopsAndKeepsNoWeights) {
  Tiny t;
  // Finite but absurd starting weights overflow to inf in the forward pass, so every loss is NaN
  // (weights holding NaN themselves are refused earlier, when the file is read).
  model::ResNet net("resnet18");
  model::InitializeResNet(net, 0);
  {
    torch::NoGradGuard g;
    net->layer4->named_parameters()["0.conv1.weight"].fill_(3e38f);
  }
  const fs::path bad = t.dir / "nan-weights.pt";
  model::SaveBackboneStateDict(net, bad);
  FinetuneOptions o = t.Options();
  o.weights = bad;
  try {
    finetune::Run(o, t.ctx);
    FAIL() << "NaN loss accepted";
  } catch (const TrainingError& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no weights were kept"), std::string::npos) << e.what();
  }
  std::error_code ec;
  EXPECT_FALSE(fs::exists(t.ctx.workdir / "finetune" / "latest", ec));
  int artifacts = 0;
  if (fs::exists(t.ctx.workdir / "finetune"))
    for (const auto& e : fs::directory_iterator(t.ctx.workdir / "finetune")) artifacts += e.is_directory();
  EXPECT_EQ(artifacts, 0);
}

}  // namespace
}  // namespace visrec::finetune
