#include "visrec/finetune/finetune.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <set>

#include <spdlog/spdlog.h>

#include "visrec/core/csv.h"
#include "visrec/core/errors.h"
#include "visrec/core/weights_cache.h"
#include "visrec/core/fs.h"
#include "visrec/core/npy.h"
#include "visrec/core/numfmt.h"
#include "visrec/core/progress.h"
#include "visrec/core/sha256.h"
#include "visrec/model/device.h"
#include "visrec/model/resnet.h"

namespace visrec::finetune {
namespace {

constexpr const char* kStage = "finetune";
using model::ResNet;

uint64_t NextRandom(uint64_t& state) {  // splitmix64: batch order and augmentation draws
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Mixed precision where asked: bf16 (or fp16 on CUDA) matrix products, fp32 weights and loss.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& d, torch::Dtype t) : on_(t != torch::kFloat), cuda_(d.is_cuda()) {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)  // device-generic API
    const auto type = cuda_ ? at::kCUDA : at::kCPU;
    at::autocast::set_autocast_dtype(type, t);
    at::autocast::set_autocast_enabled(type, true);
#else
    if (cuda_) {
      at::autocast::set_autocast_gpu_dtype(t);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(t);
      at::autocast::set_cpu_enabled(true);
    }
#endif
  }
  ~AutocastScope() {
    if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, false);
#else
    if (cuda_) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
#endif
    at::autocast::clear_cache();
  }

 private:
  bool on_, cuda_;
};

// One labelled, usable photo of the preprocess artifact.
struct Photo {
  int shard = 0;      // index into the mapped pixel files
  int64_t row = 0;    // row in that file
  int item = 0;       // index into the item list
  int64_t label = 0;  // class index
  Part part = Part::kTrain;
};

// Preprocessed uint8 pixels -> normalized float NCHW tensor (channels-last storage), as extract does.
class PixelSource {
 public:
  PixelSource(const Artifact& pre, const std::vector<std::string>& shard_names) {
    const json& pp = pre.manifest["params"];
    crop_ = pp.at("crop").get<int>();
    const auto mean = pp.at("mean").get<std::array<double, 3>>();
    const auto stdv = pp.at("std").get<std::array<double, 3>>();
    for (int k = 0; k < 3; ++k) {
      scale_[k] = float(1.0 / (255.0 * stdv[size_t(k)]));
      shift_[k] = float(-mean[size_t(k)] / stdv[size_t(k)]);
    }
    for (const auto& s : shard_names) {
      files_.push_back(std::make_unique<MappedNpy>(pre.File("pixels-" + s + ".npy")));
      const auto& h = files_.back()->header();
      if (h.shape.size() != 4 || h.shape[1] != crop_ || h.shape[2] != crop_ || h.shape[3] != 3)
        throw ArtifactError("finetune: pixels-" + s + ".npy of " + pre.dir.string() + " is not N x crop x crop x 3");
    }
  }
  int crop() const { return crop_; }
  torch::Tensor Batch(const std::vector<Photo>& photos, const std::vector<int64_t>& which) const {
    const int64_t n = int64_t(which.size()), px = int64_t(crop_) * crop_ * 3;
    torch::Tensor nhwc = torch::empty({n, crop_, crop_, 3}, torch::kFloat);
    float* dst = nhwc.data_ptr<float>();
    for (int64_t j = 0; j < n; ++j) {
      const Photo& p = photos[size_t(which[size_t(j)])];
      const MappedNpy& f = *files_[size_t(p.shard)];
      if (p.row < 0 || p.row >= f.rows())
        throw ArtifactError("finetune: images.csv points past the end of a pixel shard; rerun preprocess");
      const uint8_t* src = f.data<uint8_t>() + p.row * px;
      float* d = dst + j * px;
      for (int64_t q = 0; q < px; q += 3)
        for (int k = 0; k < 3; ++k) d[q + k] = src[q + k] * scale_[k] + shift_[k];
    }
    return nhwc.permute({0, 3, 1, 2});  // NCHW view of NHWC storage = channels-last
  }

 private:
  int crop_ = 0;
  float scale_[3], shift_[3];
  std::vector<std::unique_ptr<MappedNpy>> files_;
};

// Named tensors of a module, for keeping the best epoch's state.
using Snapshot = std::vector<std::pair<torch::Tensor, torch::Tensor>>;  // live tensor, saved copy
Snapshot Take(const std::vector<std::shared_ptr<torch::nn::Module>>& modules) {
  Snapshot s;
  torch::NoGradGuard g;
  for (const auto& m : modules) {
    for (auto& p : m->parameters()) s.emplace_back(p, p.detach().clone());
    for (auto& b : m->buffers()) s.emplace_back(b, b.detach().clone());
  }
  return s;
}
void Restore(const Snapshot& s) {
  torch::NoGradGuard g;
  for (const auto& [live, saved] : s) live.copy_(saved);
}

struct EpochStats {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, dev_accuracy = -1, images_per_second = 0, seconds = 0;
};

}  // namespace

void FinetuneOptions::Validate() const {
  if (label_column.empty()) throw UsageError("finetune: --label-column is required (the catalog column holding each item's class)");
  if (model != "resnet18" && model != "resnet34" && model != "resnet50" && model != "resnet101")
    throw UsageError("finetune: --model must be resnet18|resnet34|resnet50|resnet101");
  if (train != "head" && train != "last-block" && train != "all")
    throw UsageError("finetune: --train must be head|last-block|all");
  if (epochs < 1 || epochs > 10000) throw UsageError("finetune: --epochs must be in [1, 10000]");
  if (batch_size < 1 || batch_size > 4096) throw UsageError("finetune: --batch-size must be in [1, 4096]");
  // These comparisons are written to fail for NaN and inf too.
  if (!(lr > 0 && lr < 10)) throw UsageError("finetune: --lr must be in (0, 10)");
  if (!(backbone_lr_scale >= 0 && backbone_lr_scale <= 10)) throw UsageError("finetune: --backbone-lr-scale must be in [0, 10]");
  if (!(weight_decay >= 0 && weight_decay < 1)) throw UsageError("finetune: --weight-decay must be in [0, 1)");
  if (!(dev_fraction >= 0 && test_fraction > 0 && dev_fraction + test_fraction < 0.9))
    throw UsageError("finetune: --dev-fraction >= 0, --test-fraction > 0 and their sum below 0.9");
  if (patience < 1) throw UsageError("finetune: --patience must be at least 1");
  if (device != "auto" && device != "cpu" && device != "cuda") throw UsageError("finetune: --device must be auto|cpu|cuda");
  if (precision != "fp32" && precision != "bf16" && precision != "fp16")
    throw UsageError("finetune: --precision must be fp32|bf16|fp16");
  if (cache_limit_mb < 1) throw UsageError("finetune: --cache-limit-mb must be positive");
}

static StageResult RunUnguarded(const FinetuneOptions& options, const RunContext& ctx) {
  options.Validate();
  FinetuneOptions o = options;
  o.weights = WeightsByName(o.weights, o.model, "finetune");
  const auto t0 = std::chrono::steady_clock::now();
  Artifact pre = o.preprocess.empty() ? OpenLatest(ctx.workdir, "preprocess") : OpenArtifact(o.preprocess);
  if (pre.stage != "preprocess")
    throw ArtifactError("finetune: '" + pre.dir.string() + "' is a " + pre.stage + " artifact, expected preprocess");
  fs::path catalog = o.catalog;
  if (catalog.empty())
    for (const auto& in : pre.manifest["inputs"])
      if (in.value("role", "") == "catalog") catalog = in.value("path", "");
  if (catalog.empty()) throw UsageError("finetune: give --catalog (the preprocess artifact records none)");

  // Labels per item: one per item; an item whose photo rows disagree is an error naming the rows.
  CsvTable cat = ReadCsv(catalog);
  const int c_id = cat.Column("item_id"), c_label = cat.Column(o.label_column);
  if (c_id < 0) throw InputError(catalog.string() + ": no 'item_id' column");
  if (c_label < 0) {
    std::string cols;
    for (const auto& c : cat.header) cols += (cols.empty() ? "" : ", ") + c;
    throw InputError(catalog.string() + ": no column '" + o.label_column + "' for --label-column (columns: " + cols + ")");
  }
  std::map<std::string, std::string> label_of;
  std::map<std::string, size_t> first_row;
  std::set<std::string> unlabelled;
  for (size_t r = 0; r < cat.rows.size(); ++r) {
    const auto& row = cat.rows[r];
    if (row.size() <= size_t(std::max(c_id, c_label))) continue;  // malformed rows: preprocess reports them
    const std::string& id = row[size_t(c_id)];
    const std::string& label = row[size_t(c_label)];
    if (label.empty()) {
      if (!label_of.count(id)) unlabelled.insert(id);
      continue;
    }
    auto it = label_of.find(id);
    if (it == label_of.end()) {
      label_of[id] = label;
      first_row[id] = r;
      unlabelled.erase(id);
    } else if (it->second != label) {
      throw InputError(catalog.string() + " line " + std::to_string(cat.lines[r]) + ": item '" + id + "' has " +
                       o.label_column + " '" + label + "' but line " + std::to_string(cat.lines[first_row[id]]) +
                       " says '" + it->second + "'; give each item one label");
    }
  }

  // Usable photos of labelled items (preprocess failures have no row in images.csv).
  CsvTable images = ReadCsv(pre.File("images.csv"));
  const int c_item = images.Column("item_id"), c_shard = images.Column("shard"), c_row = images.Column("shard_row");
  if (c_item < 0 || c_shard < 0 || c_row < 0)
    throw ArtifactError("finetune: " + pre.File("images.csv").string() + " lacks item_id/shard/shard_row");
  std::map<std::string, std::string> label_with_photo;
  for (const auto& r : images.rows) {
    auto it = label_of.find(r[size_t(c_item)]);
    if (it != label_of.end()) label_with_photo[it->first] = it->second;
  }
  const ItemSplit split = StratifiedSplit(label_with_photo, o.dev_fraction, o.test_fraction, o.seed,
                                          "finetune (" + catalog.string() + ", column '" + o.label_column + "')");
  const int64_t classes = int64_t(split.classes.size());

  std::vector<std::string> item_ids;  // sorted (map order)
  std::map<std::string, int> item_index;
  for (const auto& [id, cls] : split.label_of) {
    item_index[id] = int(item_ids.size());
    item_ids.push_back(id);
  }
  std::vector<std::string> shard_names;
  std::map<std::string, int> shard_index;
  std::vector<Photo> photos;
  for (const auto& r : images.rows) {
    auto it = item_index.find(r[size_t(c_item)]);
    if (it == item_index.end()) continue;
    const std::string& s = r[size_t(c_shard)];
    if (!shard_index.count(s)) {
      shard_index[s] = int(shard_names.size());
      shard_names.push_back(s);
    }
    Photo p;
    p.shard = shard_index[s];
    p.row = std::stoll(r[size_t(c_row)]);
    p.item = it->second;
    p.label = split.label_of.at(it->first);
    p.part = split.part_of.at(it->first);
    photos.push_back(p);
  }

  // Key: everything that changes the weights. Device and threads do not enter it (recorded instead).
  std::vector<ArtifactInput> inputs{pre.AsInput("preprocess"),
                                    {"catalog", "file", fs::absolute(catalog).string(), Sha256File(catalog)}};
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
  if (!o.weights.empty()) inputs.push_back({"weights", "file", fs::absolute(o.weights).string(), Sha256File(o.weights)});
  else params["init_seed"] = o.init_seed;
  const std::string key = ComputeArtifactKey(kStage, kStageVersion, params, inputs);
  if (auto up = FindUpToDate(ctx, kStage, key)) return *up;

  const torch::Device device = model::ChooseDevice(o.device);
  if (o.precision == "fp16" && !device.is_cuda())
    throw UsageError("finetune: --precision fp16 runs on CUDA only; on CPU use bf16 (AMX/AVX-512-BF16) or fp32");
  model::RequireCpuBf16("finetune", device.is_cpu(), o.precision);
  const torch::Dtype autocast_dtype =
      o.precision == "bf16" ? torch::kBFloat16 : (o.precision == "fp16" ? torch::kHalf : torch::kFloat);
  const int threads = ResolveThreads(ctx.threads);
  at::set_num_threads(threads);

  ResNet net(o.model);
  model::InitializeResNet(net, o.init_seed);
  if (!o.weights.empty()) model::LoadStateDict(net, o.weights.string());
  else
    spdlog::warn("finetune: NO STARTING WEIGHTS - {} starts from a fixed-seed random initialisation. Fine-tuning "
                 "normally starts from pretrained weights (--weights, README 'Pretrained weights').", o.model);
  torch::manual_seed(o.seed);  // the new head's initialisation
  torch::nn::Linear head(net->feature_dim(), classes);
  net->to(device);
  head->to(device);
  {  // channels-last convolution weights: oneDNN's fast layout on CPU, tensor cores on CUDA
    torch::NoGradGuard g;
    for (auto& p : net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  for (auto& p : net->parameters()) p.set_requires_grad(false);
  std::vector<std::shared_ptr<torch::nn::Module>> trained{head.ptr()};
  std::vector<torch::Tensor> backbone_params;
  if (o.train == "last-block") trained.push_back(net->layer4.ptr());
  if (o.train == "all") trained.push_back(net.ptr());
  for (size_t m = 1; m < trained.size(); ++m)
    for (auto& p : trained[m]->parameters()) {
      p.set_requires_grad(true);
      backbone_params.push_back(p);
    }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(head->parameters(), std::make_unique<torch::optim::AdamOptions>(o.lr));
  if (!backbone_params.empty())
    groups.emplace_back(backbone_params, std::make_unique<torch::optim::AdamOptions>(o.lr * o.backbone_lr_scale));
  for (auto& g : groups) static_cast<torch::optim::AdamOptions&>(g.options()).weight_decay(o.weight_decay);
  torch::optim::Adam optimizer(groups, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));

  PixelSource pixels(pre, shard_names);
  const int64_t n_photos = int64_t(photos.size());
  std::vector<int64_t> train_photos, dev_photos, test_photos;
  for (int64_t i = 0; i < n_photos; ++i)
    (photos[size_t(i)].part == Part::kTrain ? train_photos : photos[size_t(i)].part == Part::kDev ? dev_photos : test_photos)
        .push_back(i);

  // Frozen part computed once: "head" caches pooled features, "last-block" caches layer3 output,
  // each photo as it is and (with augmentation) mirrored. Row v * n_photos + i holds view v of photo i.
  const bool cached = o.train != "all";
  const int64_t views = o.augment ? 2 : 1;
  torch::Tensor cache;
  double cache_seconds = 0;
  const int64_t prep_batch = 16;
  if (cached) {
    auto ct0 = std::chrono::steady_clock::now();
    net->eval();
    torch::NoGradGuard no_grad;  // not InferenceMode: cached tensors feed layer4's backward later
    auto frozen = [&](const torch::Tensor& x) {
      AutocastScope ac(device, autocast_dtype);
      torch::Tensor y = o.train == "head" ? net->features(x) : net->trunk(x);
      return y.to(torch::kFloat);
    };
    torch::Tensor probe = frozen(torch::zeros({1, 3, pixels.crop(), pixels.crop()}, device));
    std::vector<int64_t> shape = probe.sizes().vec();
    shape[0] = views * n_photos;
    int64_t per_row = 1;
    for (size_t k = 1; k < shape.size(); ++k) per_row *= shape[k];
    const double mb = double(shape[0]) * double(per_row) * 4.0 / (1024.0 * 1024.0);
    if (mb > double(o.cache_limit_mb))
      throw UsageError("finetune: caching the frozen layers' output for " + std::to_string(n_photos) + " photos needs " +
                       FormatFixed(mb, 0) + " MB, above --cache-limit-mb " + std::to_string(o.cache_limit_mb) +
                       "; raise it, use --train head (smallest cache), or --augment false (half)");
    auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
    cache = shape.size() == 4 ? torch::empty(shape, opts.memory_format(torch::MemoryFormat::ChannelsLast))
                              : torch::empty(shape, opts);
    Progress progress("finetune: caching frozen layers", views * n_photos, "images");
    for (int64_t s = 0; s < n_photos; s += prep_batch) {
      std::vector<int64_t> which;
      for (int64_t i = s; i < std::min(n_photos, s + prep_batch); ++i) which.push_back(i);
      torch::Tensor x = pixels.Batch(photos, which).to(device);
      for (int64_t v = 0; v < views; ++v) {
        torch::Tensor y = frozen(v == 0 ? x : x.flip({3}));
        cache.narrow(0, v * n_photos + s, int64_t(which.size())).copy_(y);
        progress.Add(int64_t(which.size()));
      }
    }
    progress.Done();
    cache_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ct0).count();
  }

  // Logits of photos, in train or eval mode; `views_of` picks each photo's cached view.
  auto set_mode = [&](bool training) {
    net->eval();  // frozen layers keep their BatchNorm statistics
    if (o.train == "last-block") net->layer4->train(training);
    if (o.train == "all") net->train(training);
    head->train(training);
  };
  uint64_t aug_state = o.seed ^ 0xA5A5A5A5ull;
  auto logits_of = [&](const std::vector<int64_t>& which, bool augment) {
    torch::Tensor feat;
    AutocastScope ac(device, autocast_dtype);
    if (cached) {
      std::vector<int64_t> rows;
      for (int64_t i : which) rows.push_back((augment && views > 1 ? int64_t(NextRandom(aug_state) & 1) : 0) * n_photos + i);
      torch::Tensor x = cache.index_select(0, torch::tensor(rows, torch::kLong).to(device));
      feat = o.train == "head" ? x : net->top(x.dim() == 4 ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x);
    } else {
      torch::Tensor x = pixels.Batch(photos, which).to(device);
      if (augment) {
        std::vector<torch::Tensor> out;
        const int64_t c = pixels.crop();
        for (int64_t j = 0; j < x.size(0); ++j) {
          torch::Tensor im = x.narrow(0, j, 1);
          const AugmentDraw a = DrawAugmentation(aug_state);
          if (a.flip) im = im.flip({3});
          const int64_t side = std::max<int64_t>(1, int64_t(std::lround(double(c) * a.crop_fraction)));
          const int64_t oy = int64_t(a.offset_y * double(c - side)), ox = int64_t(a.offset_x * double(c - side));
          im = im.narrow(2, oy, side).narrow(3, ox, side);
          if (side != c)
            im = torch::nn::functional::interpolate(
                im, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{c, c})
                        .mode(torch::kBilinear).align_corners(false));
          // Brightness and contrast within +-10%, on normalized values (a shift and a scale).
          im = im * a.contrast + a.brightness;
          out.push_back(im);
        }
        x = torch::cat(out, 0).contiguous(torch::MemoryFormat::ChannelsLast);
      }
      feat = net->features(x);
    }
    return head(feat).to(torch::kFloat);
  };
  // Item-level predictions: softmax averaged over an item's photos, then argmax.
  auto predict_items = [&](const std::vector<int64_t>& which) {
    set_mode(false);
    torch::NoGradGuard g;
    std::map<int, torch::Tensor> prob_sum;
    for (size_t s = 0; s < which.size(); s += size_t(prep_batch)) {
      std::vector<int64_t> b(which.begin() + long(s), which.begin() + long(std::min(which.size(), s + size_t(prep_batch))));
      torch::Tensor p = torch::softmax(logits_of(b, false), 1).to(torch::kCPU);
      for (size_t j = 0; j < b.size(); ++j) {
        const int item = photos[size_t(b[j])].item;
        auto it = prob_sum.find(item);
        if (it == prob_sum.end()) prob_sum[item] = p[long(j)].clone();
        else it->second += p[long(j)];
      }
    }
    std::map<int, int64_t> predicted;
    for (auto& [item, p] : prob_sum) predicted[item] = p.argmax().item<int64_t>();
    return predicted;
  };
  auto item_accuracy = [&](const std::map<int, int64_t>& pred) {
    if (pred.empty()) return -1.0;
    int64_t ok = 0;
    for (const auto& [item, cls] : pred) ok += split.label_of.at(item_ids[size_t(item)]) == cls;
    return double(ok) / double(pred.size());
  };

  std::vector<EpochStats> history;
  double best_dev = -1;
  int best_epoch = 0, since_best = 0;
  Snapshot best;
  bool stopped_early = false;
  const auto train_t0 = std::chrono::steady_clock::now();
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    auto et0 = std::chrono::steady_clock::now();
    std::vector<int64_t> order = train_photos;
    uint64_t order_state = o.seed * 1000003ull + uint64_t(epoch);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(NextRandom(order_state) % i)]);
    set_mode(true);
    double loss_sum = 0;
    int64_t correct = 0;
    for (size_t s = 0; s < order.size(); s += size_t(o.batch_size)) {
      size_t end = std::min(order.size(), s + size_t(o.batch_size));
      // A last batch of one photo joins this one: BatchNorm in training mode needs two values.
      if (order.size() - end == 1) end = order.size();
      std::vector<int64_t> b(order.begin() + long(s), order.begin() + long(end));
      std::vector<int64_t> y;
      for (int64_t i : b) y.push_back(photos[size_t(i)].label);
      torch::Tensor target = torch::tensor(y, torch::kLong).to(device);
      torch::Tensor logits = logits_of(b, o.augment);
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, target);
      const double l = loss.item<double>();
      if (!std::isfinite(l))
        throw TrainingError("finetune: the loss became " + std::string(std::isnan(l) ? "NaN" : "infinite") + " in epoch " +
                            std::to_string(epoch) + " (step " + std::to_string(s / size_t(o.batch_size) + 1) +
                            "); training diverged and no weights were kept. Lower --lr (now " + FormatFixed(o.lr, 6) +
                            ")" + (o.precision == "fp32" ? "" : " or use --precision fp32"));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += l * double(b.size());
      correct += (logits.argmax(1) == target).sum().item<int64_t>();
      if (end == order.size()) break;
    }
    EpochStats e;
    e.epoch = epoch;
    e.train_loss = order.empty() ? 0 : loss_sum / double(order.size());
    e.train_accuracy = order.empty() ? 0 : double(correct) / double(order.size());
    e.dev_accuracy = item_accuracy(predict_items(dev_photos));
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - et0).count();
    e.images_per_second = e.seconds > 0 ? double(order.size()) / e.seconds : 0;
    history.push_back(e);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_t0).count();
    spdlog::info("finetune: epoch {}/{}  loss {}  train acc {}  dev acc {}  {} img/s  ETA {}s (at most)", epoch,
                 o.epochs, FormatFixed(e.train_loss, 4), FormatFixed(e.train_accuracy, 3),
                 e.dev_accuracy < 0 ? std::string("-") : FormatFixed(e.dev_accuracy, 3), FormatFixed(e.images_per_second, 1),
                 FormatFixed(elapsed / epoch * (o.epochs - epoch), 0));
    // Early stopping on dev accuracy (ties keep the earlier epoch). Without dev items: last epoch.
    if (dev_photos.empty() || e.dev_accuracy > best_dev) {
      best_dev = e.dev_accuracy;
      best_epoch = epoch;
      since_best = 0;
      best = Take(trained);
    } else if (++since_best >= o.patience) {
      stopped_early = epoch < o.epochs;
      spdlog::info("finetune: dev accuracy has not improved for {} epochs; stopping, keeping epoch {}", o.patience, best_epoch);
      break;
    }
  }
  Restore(best);
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_t0).count();

  // Test: item-level accuracy and a per-class confusion summary.
  const std::map<int, int64_t> test_pred = predict_items(test_photos);
  const double test_accuracy = item_accuracy(test_pred);
  std::vector<std::vector<int64_t>> confusion(size_t(classes), std::vector<int64_t>(size_t(classes), 0));
  for (const auto& [item, cls] : test_pred) ++confusion[size_t(split.label_of.at(item_ids[size_t(item)]))][size_t(cls)];
  json per_class = json::array();
  std::string confusion_csv = "label,predicted,items\n";
  for (int64_t c = 0; c < classes; ++c) {
    int64_t total = 0, worst = -1, worst_count = 0;
    for (int64_t p = 0; p < classes; ++p) {
      const int64_t v = confusion[size_t(c)][size_t(p)];
      total += v;
      if (v > 0) confusion_csv += CsvLine({split.classes[size_t(c)], split.classes[size_t(p)], std::to_string(v)});
      if (p != c && v > worst_count) { worst = p; worst_count = v; }
    }
    const int64_t ok = confusion[size_t(c)][size_t(c)];
    per_class.push_back({{"class", split.classes[size_t(c)]}, {"test_items", total}, {"correct", ok},
                         {"accuracy", total ? double(ok) / double(total) : 0.0},
                         {"most_confused_with", worst >= 0 ? json(split.classes[size_t(worst)]) : json(nullptr)},
                         {"most_confused_items", worst_count}});
  }

  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, params, inputs);

  b.set_tag(ctx.tag);
  b.producer()["libtorch"] = model::TorchVersion();
  b.producer()["device"] = device.str();
  b.producer()["threads"] = threads;
  model::SaveBackboneStateDict(net, b.Path("weights.pt"));
  {
    c10::Dict<std::string, torch::Tensor> h;
    h.insert("weight", head->weight.detach().to(torch::kCPU).contiguous().clone());
    h.insert("bias", head->bias.detach().to(torch::kCPU).contiguous().clone());
    std::vector<char> bytes = torch::pickle_save(torch::IValue(h));
    WriteFileAtomic(b.Path("head.pt"), std::string(bytes.begin(), bytes.end()));
  }
  std::string classes_txt, split_csv = "item_id,label,part\n", test_items;
  for (const auto& c : split.classes) classes_txt += c + "\n";
  for (const auto& id : item_ids) {
    const Part part = split.part_of.at(id);
    split_csv += CsvLine({id, split.classes[size_t(split.label_of.at(id))], PartName(part)});
    if (part == Part::kTest) test_items += id + "\n";
  }
  std::string history_csv = "epoch,train_loss,train_accuracy,dev_accuracy,images_per_second,seconds\n";
  json history_json = json::array();
  for (const auto& e : history) {
    history_csv += CsvLine({std::to_string(e.epoch), FormatFixed(e.train_loss, 6), FormatFixed(e.train_accuracy, 6),
                            e.dev_accuracy < 0 ? "" : FormatFixed(e.dev_accuracy, 6), FormatFixed(e.images_per_second, 2),
                            FormatFixed(e.seconds, 3)});
    history_json.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy},
                            {"dev_accuracy", e.dev_accuracy < 0 ? json(nullptr) : json(e.dev_accuracy)},
                            {"images_per_second", e.images_per_second}});
  }
  WriteFileAtomic(b.Path("classes.txt"), classes_txt);
  WriteFileAtomic(b.Path("split.csv"), split_csv);
  WriteFileAtomic(b.Path("test_items.txt"), test_items);
  WriteFileAtomic(b.Path("history.csv"), history_csv);
  WriteFileAtomic(b.Path("confusion.csv"), confusion_csv);
  for (const char* f : {"weights.pt", "head.pt", "classes.txt", "split.csv", "test_items.txt", "history.csv", "confusion.csv"})
    b.AddOutput(f);
  auto count_items = [&](Part part) {
    int64_t n = 0;
    for (const auto& [id, p] : split.part_of) n += p == part;
    return n;
  };
  b.counts() = {{"classes", classes},
                {"items_labelled", int64_t(item_ids.size())},
                {"items_unlabelled", int64_t(unlabelled.size())},
                {"items_train", count_items(Part::kTrain)},
                {"items_dev", count_items(Part::kDev)},
                {"items_test", count_items(Part::kTest)},
                {"photos_train", int64_t(train_photos.size())},
                {"photos_dev", int64_t(dev_photos.size())},
                {"photos_test", int64_t(test_photos.size())},
                {"epochs_run", int64_t(history.size())}};
  b.extra()["classes"] = split.classes;
  b.extra()["history"] = history_json;
  b.extra()["best_epoch"] = best_epoch;
  b.extra()["stopped_early"] = stopped_early;
  b.extra()["dev_accuracy"] = best_dev < 0 ? json(nullptr) : json(best_dev);
  b.extra()["test_accuracy"] = test_accuracy;
  b.extra()["test_accuracy_unit"] = "per item: softmax averaged over its photos";
  b.extra()["per_class"] = per_class;
  b.extra()["untrained_start"] = o.weights.empty();
  b.extra()["feature_dim"] = net->feature_dim();
  b.extra()["use"] = "extract --model " + o.model + " --weights " + fs::absolute(b.target_dir() / "weights.pt").string();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  b.SetTiming("total", secs);
  b.SetTiming("cache", cache_seconds);
  b.SetTiming("train", train_seconds);
  Artifact a = b.Commit();
  spdlog::info("finetune: {} classes, {} items ({} train / {} dev / {} test); best epoch {} of {}; dev acc {}, test acc {} "
               "-> {} (use with: extract --model {} --weights {})",
               classes, item_ids.size(), count_items(Part::kTrain), count_items(Part::kDev), count_items(Part::kTest),
               best_epoch, history.size(), best_dev < 0 ? std::string("-") : FormatFixed(best_dev, 3),
               FormatFixed(test_accuracy, 3), a.dir.string(), o.model, a.File("weights.pt").string());
  return StageResult{a, false, secs, a.manifest["counts"]};
}

StageResult Run(const FinetuneOptions& o, const RunContext& ctx) {
  return model::GuardTorch("finetune", [&] { return RunUnguarded(o, ctx); });
}

}  // namespace visrec::finetune
