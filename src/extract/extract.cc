// `visrec extract`: options, the key, per-item pooling and the artifact; phases.h lists the phases.
#include "visrec/artifact/contracts.h"
#include "visrec/extract/extract.h"

#include <chrono>
#include <map>

#include <spdlog/spdlog.h>

#include "phases.h"
#include "visrec/artifact/weights_cache.h"
#include "visrec/model/device.h"
#include "visrec/model/resnet.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/options.h"

namespace visrec::extract {
namespace {

Artifact OpenPreprocess(const ExtractOptions& o, const RunContext& ctx) {
  Artifact pre = OpenGivenOrLatest("extract", o.preprocess, ctx.workdir, "preprocess", ctx.shard.Pointer());
  const std::string shard = contract::PreprocessParams::From(pre.manifest).shard;
  if (shard != (ctx.shard.active() ? ctx.shard.Text() : ""))
    throw UsageError("extract: the preprocess artifact " + pre.dir.string() + " is shard '" +
                     (shard.empty() ? "none" : shard) + "' but this extract runs shard '" +
                     (ctx.shard.active() ? ctx.shard.Text() : "none") + "'; give both stages the same --shard");
  return pre;
}

// Which photos need the model; the others are copied into `photo` from the previous version.
std::vector<int64_t> PhotosToCompute(const ImageTable& images, const ReusableFeatures& reuse, int64_t dim,
                                     std::vector<float>& photo) {
  std::vector<int64_t> todo;
  for (int64_t i = 0; i < images.rows(); ++i) {
    auto it = reuse.row_of_sha.find(images.Cell(i, images.c_sha));
    if (it != reuse.row_of_sha.end() && it->second < reuse.features.rows())
      std::copy_n(reuse.features.data.begin() + it->second * dim, dim, photo.begin() + i * dim);
    else
      todo.push_back(i);
  }
  return todo;
}

struct ItemFeatures {
  std::vector<float> features;  // items x dim, items in sorted id order
  std::string ids;              // ids.txt
  std::string missing_ids;      // items_without_features.txt
  int64_t items = 0, missing = 0;
};

// Per item: mean of its photos' L2-normalized features. Items the preprocess stage could not give a
// single photo are listed as failures, not silently dropped.
ItemFeatures PoolItems(const ImageTable& images, const std::vector<float>& photo, int64_t dim, const Artifact& pre,
                       ArtifactBuilder& b) {
  std::map<std::string, std::vector<int64_t>> rows_of;
  for (int64_t i = 0; i < images.rows(); ++i) rows_of[images.Cell(i, images.c_item)].push_back(i);
  ItemFeatures out;
  for (const auto& [id, rows] : rows_of) {
    std::vector<float> acc(size_t(dim), 0.f);
    for (int64_t r : rows)
      for (int64_t k = 0; k < dim; ++k) acc[size_t(k)] += photo[size_t(r * dim + k)] / float(rows.size());
    out.features.insert(out.features.end(), acc.begin(), acc.end());
    out.ids += id + "\n";
  }
  for (const auto& f : pre.manifest.failures)
    if (f.file.empty() && !rows_of.count(f.id)) {
      ++out.missing;
      out.missing_ids += f.id + "\n";
      b.AddFailure(f.id, "", "no usable photo: no feature vector");
    }
  out.items = int64_t(rows_of.size());
  return out;
}

void WriteOutputs(const ImageTable& images, const std::vector<float>& photo, int64_t dim, const ItemFeatures& pooled,
                  ArtifactBuilder& b) {
  const int64_t n = images.rows();
  WriteNpy(b.Path("features.npy"), DType::kF32, {pooled.items, dim}, pooled.features.data());
  WriteNpy(b.Path("photo_features.npy"), DType::kF32, {n, dim}, photo.data());
  WriteFileAtomic(b.Path("ids.txt"), pooled.ids);
  WriteFileAtomic(b.Path("items_without_features.txt"), pooled.missing_ids);
  std::string photos_csv = "row,sha256,item_id\n";
  for (int64_t i = 0; i < n; ++i)
    photos_csv += CsvLine({std::to_string(i), images.Cell(i, images.c_sha), images.Cell(i, images.c_item)});
  WriteFileAtomic(b.Path("photos.csv"), photos_csv);
  for (const char* f : {"features.npy", "photo_features.npy", "ids.txt", "items_without_features.txt", "photos.csv"})
    b.AddOutput(f);
}

}  // namespace

void ExtractOptions::Validate() const {
  if (model_file.empty() && model != "resnet18" && model != "resnet34" && model != "resnet50" && model != "resnet101")
    throw UsageError("extract: --model must be resnet18|resnet34|resnet50|resnet101 (or --model-file FILE.pt)");
  if (!model_file.empty() && !weights.empty())
    throw UsageError(
        "extract: --weights applies to built-in models; a --model-file carries its own weights "
        "(a --config file may set model-file: clear it with --model-file \"\")");
  if (batch_size < 0 || batch_size > 4096)
    throw UsageError("extract: --batch-size must be in [1, 4096], or 0 for the default");
  CheckRange("extract: --max-failed-fraction", max_failed_fraction, 0, 1);
}

namespace {

std::unique_ptr<FeatureModel> LoadFeatureModel(const ExtractOptions& o, bool untrained) {
  std::unique_ptr<FeatureModel> model =
      o.model_file.empty()
          ? MakeBuiltinModel(o.model, o.init_seed, o.weights)
          : MakeScriptModel(o.model_file, "--model-file '" + o.model_file.string() +
                                              "' is not a TorchScript model LibTorch " + TorchVersion() + " can load");
  if (untrained)
    spdlog::warn(
        "extract: NO WEIGHTS GIVEN - {} runs with a fixed-seed random initialisation; features are "
        "UNTRAINED and only good for testing the pipeline. See README 'Pretrained weights'.",
        o.model);
  return model;
}

// Every photo's feature (rows of `images`), reused from the previous artifact where it can be,
// computed otherwise; NaN/Inf anywhere is an error.
struct PhotoFeatures {
  std::vector<float> values;  // rows x dim
  int64_t dim = 0, computed = 0;
  double model_secs = 0;
};
PhotoFeatures AllPhotoFeatures(FeatureRun& run, const RunContext& ctx, const ModelIdentity& identity,
                               const Artifact& pre, const ImageTable& images) {
  ReusableFeatures reuse = FindReusable(ctx, identity, pre.manifest.params);
  torch::InferenceMode inference;
  if (run.dim == 0) {  // TorchScript: learn the feature size from one dummy input
    const int crop = contract::PreprocessParams::From(pre.manifest).crop;
    run.dim = run.model.Features(torch::zeros({1, 3, crop, crop}).to(run.device, run.dtype)).size(1);
  }
  PhotoFeatures f;
  f.dim = run.dim;
  // A previous version is only reusable with the same feature size (same model, so always, unless
  // its files were tampered with); otherwise every photo is computed.
  if (reuse.features.cols() != f.dim) reuse.row_of_sha.clear();
  f.values.assign(size_t(images.rows()) * size_t(f.dim), 0.f);
  const std::vector<int64_t> todo = PhotosToCompute(images, reuse, f.dim, f.values);
  f.model_secs = ComputePhotoFeatures(run, pre, images, identity.mean, identity.stdv, todo, f.values);
  f.computed = int64_t(todo.size());
  for (float v : f.values)
    if (!std::isfinite(v))
      throw InputError(
          "extract: the model produced NaN/Inf features (bad weights, or fp16 overflow); "
          "try --precision fp32");
  return f;
}

}  // namespace

static StageResult RunUnguarded(const ExtractOptions& options, const RunContext& ctx) {
  options.Validate();
  ExtractOptions o = options;
  o.weights = WeightsByName(o.weights, o.model, "extract");
  auto t0 = std::chrono::steady_clock::now();
  const Artifact pre = OpenPreprocess(o, ctx);
  const torch::Device device = model::ChooseDevice(o.device);
  if (o.precision == Precision::kFp16 && !device.is_cuda())
    throw UsageError("extract: --precision fp16 runs on CUDA only; on CPU use bf16 (AMX/AVX-512-BF16) or fp32");
  model::RequireCpuBf16("extract", device.is_cpu(), o.precision);
  const int threads = ResolveThreads(ctx.threads);
  at::set_num_threads(threads);  // Debian's LibTorch defaults to one thread

  // The device does not enter the key on purpose: CPU and CUDA give the same features within
  // tolerance; it is recorded in the manifest's producer.
  const ModelIdentity identity = IdentifyModel(o, pre);
  const std::string key = ComputeArtifactKey(kStage, kStageVersion, identity.params, identity.inputs);
  if (auto up = FindUpToDate(ctx, kStage, key)) return *up;

  std::unique_ptr<FeatureModel> model = LoadFeatureModel(o, identity.untrained);
  const torch::Dtype dtype = model::TorchDtype(o.precision);
  FeatureRun run{*model,
                 device,
                 dtype,
                 model->To(device, dtype, o.channels_last, o.cpu_kernels),
                 o.channels_last,
                 o.batch_size > 0   ? o.batch_size
                 : device.is_cuda() ? 64
                                    : 8,
                 model->declared_dim()};
  const ImageTable images = ReadImageTable(pre);
  const int64_t n = images.rows();
  const PhotoFeatures features = AllPhotoFeatures(run, ctx, identity, pre, images);
  const std::vector<float>& photo = features.values;
  const int64_t dim = features.dim, computed = features.computed;
  const double model_secs = features.model_secs;

  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, identity.params, identity.inputs);
  b.set_tag(ctx.tag);
  b.set_pointer(ctx.shard.Pointer());
  b.producer()["libtorch"] = TorchVersion();
  b.producer()["device"] = device.str();
  b.producer()["threads"] = threads;
  b.producer()["kernels"] = ChoiceName(run.kernels);
  b.producer()["batch_size"] = run.batch;
  const ItemFeatures pooled = PoolItems(images, photo, dim, pre, b);
  const int64_t items = pooled.items, missing = pooled.missing;
  if (items + missing > 0 && double(missing) / double(items + missing) > o.max_failed_fraction)
    throw TooManyFailuresError("extract: " + std::to_string(missing) + " of " + std::to_string(items + missing) +
                               " items have no usable photo (above --max-failed-fraction)");
  WriteOutputs(images, photo, dim, pooled, b);
  b.counts() = contract::ExtractSummary{items, dim, n, computed, n - computed, missing, std::nullopt, false}.ToJson();
  b.extra()["untrained"] = identity.untrained;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  b.SetTiming("total", secs);
  b.SetTiming("model", model_secs);
  Artifact a = b.Commit();
  spdlog::info("extract: {} items x {} ({} photos computed at {:.1f} img/s, {} reused) on {} ({} kernels) -> {}", items,
               dim, computed, model_secs > 0 ? computed / model_secs : 0.0, n - computed, device.str(),
               ChoiceName(run.kernels), a.dir.string());
  return StageResult{a, false, secs};
}

StageResult Run(const ExtractOptions& o, const RunContext& ctx) {
  return model::GuardTorch("extract", [&] { return RunUnguarded(o, ctx); });
}

}  // namespace visrec::extract
