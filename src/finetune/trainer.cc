#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include "phases.h"
#include "visrec/model/device.h"
#include "visrec/util/errors.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/progress.h"
#include "visrec/util/random.h"

namespace visrec::finetune {
namespace {

constexpr int64_t kPredictBatch = 16;  // photos per forward pass when caching and predicting

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

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

AutocastScope::AutocastScope(const torch::Device& d, torch::Dtype t) : on_(t != torch::kFloat), cuda_(d.is_cuda()) {
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

AutocastScope::~AutocastScope() {
  if (!on_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, false);
#else
  if (cuda_)
    at::autocast::set_enabled(false);
  else
    at::autocast::set_cpu_enabled(false);
#endif
  at::autocast::clear_cache();
}

Trainer::Trainer(const FinetuneOptions& o, const torch::Device& device, torch::Dtype autocast_dtype, int64_t classes)
    : o_(o), device_(device), autocast_dtype_(autocast_dtype), net_(o.model), aug_state_(o.seed ^ 0xA5A5A5A5ull) {
  model::InitializeResNet(net_, o.init_seed);
  if (!o.weights.empty())
    model::LoadStateDict(net_, o.weights.string());
  else
    spdlog::warn(
        "finetune: NO STARTING WEIGHTS - {} starts from a fixed-seed random initialisation. Fine-tuning "
        "normally starts from pretrained weights (--weights, README 'Pretrained weights').",
        o.model);
  torch::manual_seed(o.seed);  // the new head's initialisation
  head_ = torch::nn::Linear(net_->feature_dim(), classes);
  net_->to(device);
  head_->to(device);
  {  // channels-last convolution weights: oneDNN's fast layout on CPU, tensor cores on CUDA
    torch::NoGradGuard g;
    for (auto& p : net_->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  for (auto& p : net_->parameters()) p.set_requires_grad(false);
  trained_.push_back(head_.ptr());
  std::vector<torch::Tensor> backbone_params;
  if (o.train == "last-block") trained_.push_back(net_->layer4.ptr());
  if (o.train == "all") trained_.push_back(net_.ptr());
  for (size_t m = 1; m < trained_.size(); ++m)
    for (auto& p : trained_[m]->parameters()) {
      p.set_requires_grad(true);
      backbone_params.push_back(p);
    }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(head_->parameters(), std::make_unique<torch::optim::AdamOptions>(o.lr));
  if (!backbone_params.empty())
    groups.emplace_back(backbone_params, std::make_unique<torch::optim::AdamOptions>(o.lr * o.backbone_lr_scale));
  for (auto& g : groups) static_cast<torch::optim::AdamOptions&>(g.options()).weight_decay(o.weight_decay);
  optimizer_ =
      std::make_unique<torch::optim::Adam>(groups, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
}

// "head" caches pooled features, "last-block" caches layer3's output, each photo as it is and
// (with augmentation) mirrored.
void Trainer::CacheFrozenLayers(const PixelSource& pixels, const LabelledPhotos& data, TrainingOutcome& out) {
  views_ = o_.augment ? 2 : 1;
  if (o_.train == "all") return;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t n_photos = int64_t(data.photos.size());
  net_->eval();
  torch::NoGradGuard no_grad;  // not InferenceMode: cached tensors feed layer4's backward later
  auto frozen = [&](const torch::Tensor& x) {
    AutocastScope ac(device_, autocast_dtype_);
    torch::Tensor y = o_.train == "head" ? net_->features(x) : net_->trunk(x);
    return y.to(torch::kFloat);
  };
  torch::Tensor probe = frozen(torch::zeros({1, 3, pixels.crop(), pixels.crop()}, device_));
  std::vector<int64_t> shape = probe.sizes().vec();
  shape[0] = views_ * n_photos;
  int64_t per_row = 1;
  for (size_t k = 1; k < shape.size(); ++k) per_row *= shape[k];
  const double mb = double(shape[0]) * double(per_row) * 4.0 / (1024.0 * 1024.0);
  if (mb > double(o_.cache_limit_mb))
    throw UsageError("finetune: caching the frozen layers' output for " + std::to_string(n_photos) + " photos needs " +
                     FormatFixed(mb, 0) + " MB, above --cache-limit-mb " + std::to_string(o_.cache_limit_mb) +
                     "; raise it, use --train head (smallest cache), or --augment false (half)");
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device_);
  cache_ = shape.size() == 4 ? torch::empty(shape, opts.memory_format(torch::MemoryFormat::ChannelsLast))
                             : torch::empty(shape, opts);
  Progress progress("finetune: caching frozen layers", views_ * n_photos, "images");
  for (int64_t s = 0; s < n_photos; s += kPredictBatch) {
    std::vector<int64_t> which;
    for (int64_t i = s; i < std::min(n_photos, s + kPredictBatch); ++i) which.push_back(i);
    torch::Tensor x = pixels.Batch(data.photos, which).to(device_);
    for (int64_t v = 0; v < views_; ++v) {
      torch::Tensor y = frozen(v == 0 ? x : x.flip({3}));
      cache_.narrow(0, v * n_photos + s, int64_t(which.size())).copy_(y);
      progress.Add(int64_t(which.size()));
    }
  }
  progress.Done();
  out.cache_seconds = SecondsSince(t0);
}

void Trainer::SetMode(bool training) {
  net_->eval();  // frozen layers keep their BatchNorm statistics
  if (o_.train == "last-block") net_->layer4->train(training);
  if (o_.train == "all") net_->train(training);
  head_->train(training);
}

// Per photo: a mirror, a random crop resized back, then contrast and brightness on normalized values.
torch::Tensor Trainer::AugmentedBatch(torch::Tensor x, int64_t c) {
  std::vector<torch::Tensor> out;
  for (int64_t j = 0; j < x.size(0); ++j) {
    torch::Tensor im = x.narrow(0, j, 1);
    const AugmentDraw a = DrawAugmentation(aug_state_);
    if (a.flip) im = im.flip({3});
    const int64_t side = std::max<int64_t>(1, int64_t(std::lround(double(c) * a.crop_fraction)));
    const int64_t oy = int64_t(a.offset_y * double(c - side)), ox = int64_t(a.offset_x * double(c - side));
    im = im.narrow(2, oy, side).narrow(3, ox, side);
    if (side != c)
      im = torch::nn::functional::interpolate(im, torch::nn::functional::InterpolateFuncOptions()
                                                      .size(std::vector<int64_t>{c, c})
                                                      .mode(torch::kBilinear)
                                                      .align_corners(false));
    im = im * a.contrast + a.brightness;
    out.push_back(im);
  }
  return torch::cat(out, 0).contiguous(torch::MemoryFormat::ChannelsLast);
}

// Logits of photos; in the cached modes a training step draws each photo's cached view.
torch::Tensor Trainer::Logits(const PixelSource& pixels, const LabelledPhotos& data, const std::vector<int64_t>& which,
                              bool augment) {
  torch::Tensor feat;
  AutocastScope ac(device_, autocast_dtype_);
  if (o_.train != "all") {
    const int64_t n_photos = int64_t(data.photos.size());
    std::vector<int64_t> rows;
    for (int64_t i : which)
      rows.push_back((augment && views_ > 1 ? int64_t(SplitMix64(aug_state_) & 1) : 0) * n_photos + i);
    torch::Tensor x = cache_.index_select(0, torch::tensor(rows, torch::kLong).to(device_));
    feat = o_.train == "head" ? x : net_->top(x.dim() == 4 ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x);
  } else {
    torch::Tensor x = pixels.Batch(data.photos, which).to(device_);
    if (augment) x = AugmentedBatch(x, pixels.crop());
    feat = net_->features(x);
  }
  return head_(feat).to(torch::kFloat);
}

std::map<int, int64_t> Trainer::PredictItems(const PixelSource& pixels, const LabelledPhotos& data,
                                             const std::vector<int64_t>& which) {
  SetMode(false);
  torch::NoGradGuard g;
  std::map<int, torch::Tensor> prob_sum;
  for (size_t s = 0; s < which.size(); s += size_t(kPredictBatch)) {
    std::vector<int64_t> b(which.begin() + long(s),
                           which.begin() + long(std::min(which.size(), s + size_t(kPredictBatch))));
    torch::Tensor p = torch::softmax(Logits(pixels, data, b, false), 1).to(torch::kCPU);
    for (size_t j = 0; j < b.size(); ++j) {
      const int item = data.photos[size_t(b[j])].item;
      auto it = prob_sum.find(item);
      if (it == prob_sum.end())
        prob_sum[item] = p[long(j)].clone();
      else
        it->second += p[long(j)];
    }
  }
  std::map<int, int64_t> predicted;
  for (auto& [item, p] : prob_sum) predicted[item] = p.argmax().item<int64_t>();
  return predicted;
}

void Trainer::Fit(const PixelSource& pixels, const LabelledPhotos& data, TrainingOutcome& out) {
  const std::vector<int64_t> train_photos = data.PhotosOf(Part::kTrain), dev_photos = data.PhotosOf(Part::kDev);
  int since_best = 0;
  Snapshot best;
  const auto train_t0 = std::chrono::steady_clock::now();
  for (int epoch = 1; epoch <= o_.epochs; ++epoch) {
    auto et0 = std::chrono::steady_clock::now();
    std::vector<int64_t> order = train_photos;
    uint64_t order_state = o_.seed * 1000003ull + uint64_t(epoch);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(SplitMix64(order_state) % i)]);
    SetMode(true);
    double loss_sum = 0;
    int64_t correct = 0;
    for (size_t s = 0; s < order.size(); s += size_t(o_.batch_size)) {
      size_t end = std::min(order.size(), s + size_t(o_.batch_size));
      // A last batch of one photo joins this one: BatchNorm in training mode needs two values.
      if (order.size() - end == 1) end = order.size();
      std::vector<int64_t> b(order.begin() + long(s), order.begin() + long(end));
      std::vector<int64_t> y;
      for (int64_t i : b) y.push_back(data.photos[size_t(i)].label);
      torch::Tensor target = torch::tensor(y, torch::kLong).to(device_);
      torch::Tensor logits = Logits(pixels, data, b, o_.augment);
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, target);
      const double l = loss.item<double>();
      if (!std::isfinite(l))
        throw TrainingError("finetune: the loss became " + std::string(std::isnan(l) ? "NaN" : "infinite") +
                            " in epoch " + std::to_string(epoch) + " (step " +
                            std::to_string(s / size_t(o_.batch_size) + 1) +
                            "); training diverged and no weights were kept. Lower --lr (now " + FormatFixed(o_.lr, 6) +
                            ")" + (o_.precision == Precision::kFp32 ? "" : " or use --precision fp32"));
      optimizer_->zero_grad();
      loss.backward();
      optimizer_->step();
      loss_sum += l * double(b.size());
      correct += (logits.argmax(1) == target).sum().item<int64_t>();
      if (end == order.size()) break;
    }
    EpochStats e;
    e.epoch = epoch;
    e.train_loss = order.empty() ? 0 : loss_sum / double(order.size());
    e.train_accuracy = order.empty() ? 0 : double(correct) / double(order.size());
    e.dev_accuracy = ItemAccuracy(data, PredictItems(pixels, data, dev_photos));
    e.seconds = SecondsSince(et0);
    e.images_per_second = e.seconds > 0 ? double(order.size()) / e.seconds : 0;
    out.history.push_back(e);
    const double elapsed = SecondsSince(train_t0);
    spdlog::info("finetune: epoch {}/{}  loss {}  train acc {}  dev acc {}  {} img/s  ETA {}s (at most)", epoch,
                 o_.epochs, FormatFixed(e.train_loss, 4), FormatFixed(e.train_accuracy, 3),
                 e.dev_accuracy < 0 ? std::string("-") : FormatFixed(e.dev_accuracy, 3),
                 FormatFixed(e.images_per_second, 1), FormatFixed(elapsed / epoch * (o_.epochs - epoch), 0));
    // Early stopping on dev accuracy (ties keep the earlier epoch). Without dev items: last epoch.
    if (dev_photos.empty() || e.dev_accuracy > out.best_dev) {
      out.best_dev = e.dev_accuracy;
      out.best_epoch = epoch;
      since_best = 0;
      best = Take(trained_);
    } else if (++since_best >= o_.patience) {
      out.stopped_early = epoch < o_.epochs;
      spdlog::info("finetune: dev accuracy has not improved for {} epochs; stopping, keeping epoch {}", o_.patience,
                   out.best_epoch);
      break;
    }
  }
  Restore(best);
  out.train_seconds = SecondsSince(train_t0);
}

}  // namespace visrec::finetune
