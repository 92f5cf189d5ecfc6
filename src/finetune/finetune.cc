// `visrec finetune`: options, the artifact key and the artifact; phases.h lists the phases.
#include <chrono>

#include <spdlog/spdlog.h>

#include "phases.h"
#include "visrec/artifact/contracts.h"
#include "visrec/artifact/csv.h"
#include "visrec/artifact/weights_cache.h"
#include "visrec/model/device.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/sha256.h"

namespace visrec::finetune {
namespace {

// The catalog holding the labels: --catalog, else the one the preprocess artifact was made from.
fs::path LabelCatalog(const FinetuneOptions& o, const Artifact& pre) {
  fs::path catalog = o.catalog;
  if (catalog.empty())
    for (const auto& in : pre.manifest.InputsWithRole("catalog")) catalog = in.path;
  if (catalog.empty()) throw UsageError("finetune: give --catalog (the preprocess artifact records none)");
  return catalog;
}

// Everything that changes the weights. Device and threads do not enter it (recorded instead).
json KeyParams(const FinetuneOptions& o) {
  json params{{"model", o.model},
              {"label_column", o.label_column},
              {"train", o.train},
              {"epochs", o.epochs},
              {"batch_size", o.batch_size},
              {"lr", o.lr},
              {"backbone_lr_scale", o.backbone_lr_scale},
              {"weight_decay", o.weight_decay},
              {"optimizer", "adam"},
              {"seed", o.seed},
              {"dev_fraction", o.dev_fraction},
              {"test_fraction", o.test_fraction},
              {"patience", o.patience},
              {"augment", o.augment},
              {"precision", o.precision}};
  if (o.weights.empty()) params["init_seed"] = o.init_seed;
  return params;
}

void WriteHead(const torch::nn::Linear& head, const fs::path& path) {
  c10::Dict<std::string, torch::Tensor> h;
  h.insert("weight", head->weight.detach().to(torch::kCPU).contiguous().clone());
  h.insert("bias", head->bias.detach().to(torch::kCPU).contiguous().clone());
  std::vector<char> bytes = torch::pickle_save(torch::IValue(h));
  WriteFileAtomic(path, std::string(bytes.begin(), bytes.end()));
}

// classes.txt, split.csv and test_items.txt: what the model was taught and tested on.
void WriteSplitFiles(const LabelledPhotos& data, ArtifactBuilder& b) {
  std::string classes_txt, split_csv = "item_id,label,part\n", test_items;
  for (const auto& c : data.split.classes) classes_txt += c + "\n";
  for (const auto& id : data.item_ids) {
    const Part part = data.split.part_of.at(id);
    split_csv += CsvLine({id, data.split.classes[size_t(data.split.label_of.at(id))], PartName(part)});
    if (part == Part::kTest) test_items += id + "\n";
  }
  WriteFileAtomic(b.Path("classes.txt"), classes_txt);
  WriteFileAtomic(b.Path("split.csv"), split_csv);
  WriteFileAtomic(b.Path("test_items.txt"), test_items);
}

json WriteHistory(const std::vector<EpochStats>& history, const fs::path& csv_path) {
  std::string history_csv = "epoch,train_loss,train_accuracy,dev_accuracy,images_per_second,seconds\n";
  json history_json = json::array();
  for (const auto& e : history) {
    history_csv += CsvLine({std::to_string(e.epoch), FormatFixed(e.train_loss, 6), FormatFixed(e.train_accuracy, 6),
                            e.dev_accuracy < 0 ? "" : FormatFixed(e.dev_accuracy, 6),
                            FormatFixed(e.images_per_second, 2), FormatFixed(e.seconds, 3)});
    history_json.push_back({{"epoch", e.epoch},
                            {"train_loss", e.train_loss},
                            {"train_accuracy", e.train_accuracy},
                            {"dev_accuracy", e.dev_accuracy < 0 ? json(nullptr) : json(e.dev_accuracy)},
                            {"images_per_second", e.images_per_second}});
  }
  WriteFileAtomic(csv_path, history_csv);
  return history_json;
}

// Counts and extras of the manifest: the split's sizes, the epochs, dev and test accuracy.
void DescribeRun(const FinetuneOptions& o, const LabelledPhotos& data, const TrainingOutcome& fit,
                 const TestReport& test, const json& history, int64_t feature_dim, ArtifactBuilder& b) {
  contract::FinetuneSummary summary;
  summary.classes = int64_t(data.split.classes.size());
  summary.items_labelled = int64_t(data.item_ids.size());
  summary.items_unlabelled = data.unlabelled_items;
  summary.items_train = data.ItemsIn(Part::kTrain);
  summary.items_dev = data.ItemsIn(Part::kDev);
  summary.items_test = data.ItemsIn(Part::kTest);
  summary.photos_train = int64_t(data.PhotosOf(Part::kTrain).size());
  summary.photos_dev = int64_t(data.PhotosOf(Part::kDev).size());
  summary.photos_test = int64_t(data.PhotosOf(Part::kTest).size());
  summary.epochs_run = int64_t(fit.history.size());
  b.counts() = summary.ToJson();
  b.extra()["classes"] = data.split.classes;
  b.extra()["history"] = history;
  b.extra()["best_epoch"] = fit.best_epoch;
  b.extra()["stopped_early"] = fit.stopped_early;
  b.extra()["dev_accuracy"] = fit.best_dev < 0 ? json(nullptr) : json(fit.best_dev);
  b.extra()["test_accuracy"] = test.accuracy;
  b.extra()["test_accuracy_unit"] = "per item: softmax averaged over its photos";
  b.extra()["per_class"] = test.per_class;
  b.extra()["untrained_start"] = o.weights.empty();
  b.extra()["feature_dim"] = feature_dim;
  b.extra()["use"] =
      "extract --model " + o.model + " --weights " + fs::absolute(b.target_dir() / "weights.pt").string();
}

}  // namespace

void FinetuneOptions::Validate() const {
  if (label_column.empty())
    throw UsageError("finetune: --label-column is required (the catalog column holding each item's class)");
  if (model != "resnet18" && model != "resnet34" && model != "resnet50" && model != "resnet101")
    throw UsageError("finetune: --model must be resnet18|resnet34|resnet50|resnet101");
  if (train != "head" && train != "last-block" && train != "all")
    throw UsageError("finetune: --train must be head|last-block|all");
  if (epochs < 1 || epochs > 10000) throw UsageError("finetune: --epochs must be in [1, 10000]");
  if (batch_size < 1 || batch_size > 4096) throw UsageError("finetune: --batch-size must be in [1, 4096]");
  // These comparisons are written to fail for NaN and inf too.
  if (!(lr > 0 && lr < 10)) throw UsageError("finetune: --lr must be in (0, 10)");
  if (!(backbone_lr_scale >= 0 && backbone_lr_scale <= 10))
    throw UsageError("finetune: --backbone-lr-scale must be in [0, 10]");
  if (!(weight_decay >= 0 && weight_decay < 1)) throw UsageError("finetune: --weight-decay must be in [0, 1)");
  if (!(dev_fraction >= 0 && test_fraction > 0 && dev_fraction + test_fraction < 0.9))
    throw UsageError("finetune: --dev-fraction >= 0, --test-fraction > 0 and their sum below 0.9");
  if (patience < 1) throw UsageError("finetune: --patience must be at least 1");
  if (cache_limit_mb < 1) throw UsageError("finetune: --cache-limit-mb must be positive");
}

static StageResult RunUnguarded(const FinetuneOptions& options, const RunContext& ctx) {
  options.Validate();
  FinetuneOptions o = options;
  o.weights = WeightsByName(o.weights, o.model, "finetune");
  const auto t0 = std::chrono::steady_clock::now();
  Artifact pre = OpenGivenOrLatest("finetune", o.preprocess, ctx.workdir, "preprocess");
  const fs::path catalog = LabelCatalog(o, pre);
  const LabelledPhotos data = GatherLabelledPhotos(pre, catalog, o);
  const int64_t classes = int64_t(data.split.classes.size());

  std::vector<ArtifactInput> inputs{pre.AsInput("preprocess"), FileInput("catalog", catalog)};
  if (!o.weights.empty()) inputs.push_back(FileInput("weights", o.weights));
  const json params = KeyParams(o);
  const std::string key = ComputeArtifactKey(kStage, kStageVersion, params, inputs);
  if (auto up = FindUpToDate(ctx, kStage, key)) return *up;

  const torch::Device device = model::ChooseDevice(o.device);
  if (o.precision == Precision::kFp16 && !device.is_cuda())
    throw UsageError("finetune: --precision fp16 runs on CUDA only; on CPU use bf16 (AMX/AVX-512-BF16) or fp32");
  model::RequireCpuBf16("finetune", device.is_cpu(), o.precision);
  const torch::Dtype autocast_dtype = model::TorchDtype(o.precision);
  const int threads = ResolveThreads(ctx.threads);
  at::set_num_threads(threads);

  Trainer trainer(o, device, autocast_dtype, classes);
  PixelSource pixels(pre, data.shard_names);
  TrainingOutcome fit;
  trainer.CacheFrozenLayers(pixels, data, fit);
  trainer.Fit(pixels, data, fit);
  const TestReport test = EvaluateTest(data, trainer.PredictItems(pixels, data, data.PhotosOf(Part::kTest)));

  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  b.producer()["libtorch"] = model::TorchVersion();
  b.producer()["device"] = device.str();
  b.producer()["threads"] = threads;
  model::SaveBackboneStateDict(trainer.net(), b.Path("weights.pt"));
  WriteHead(trainer.head(), b.Path("head.pt"));
  WriteSplitFiles(data, b);
  const json history = WriteHistory(fit.history, b.Path("history.csv"));
  WriteFileAtomic(b.Path("confusion.csv"), test.confusion_csv);
  for (const char* f :
       {"weights.pt", "head.pt", "classes.txt", "split.csv", "test_items.txt", "history.csv", "confusion.csv"})
    b.AddOutput(f);
  DescribeRun(o, data, fit, test, history, trainer.net()->feature_dim(), b);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  b.SetTiming("total", secs);
  b.SetTiming("cache", fit.cache_seconds);
  b.SetTiming("train", fit.train_seconds);
  Artifact a = b.Commit();
  spdlog::info(
      "finetune: {} classes, {} items ({} train / {} dev / {} test); best epoch {} of {}; dev acc {}, test acc {} "
      "-> {} (use with: extract --model {} --weights {})",
      classes, data.item_ids.size(), data.ItemsIn(Part::kTrain), data.ItemsIn(Part::kDev), data.ItemsIn(Part::kTest),
      fit.best_epoch, fit.history.size(), fit.best_dev < 0 ? std::string("-") : FormatFixed(fit.best_dev, 3),
      FormatFixed(test.accuracy, 3), a.dir.string(), o.model, a.File("weights.pt").string());
  return StageResult{a, false, secs};
}

StageResult Run(const FinetuneOptions& o, const RunContext& ctx) {
  return model::GuardTorch("finetune", [&] { return RunUnguarded(o, ctx); });
}

}  // namespace visrec::finetune
