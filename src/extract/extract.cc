#include "visrec/extract/extract.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "visrec/model/device.h"
#include "visrec/model/fused.h"
#include "visrec/model/resnet.h"
#include "visrec/core/csv.h"
#include "visrec/core/errors.h"
#include "visrec/core/model_input.h"
#include "visrec/core/weights_cache.h"
#include "visrec/core/fs.h"
#include "visrec/core/progress.h"
#include "visrec/core/options.h"
#include "visrec/core/sha256.h"
#include "visrec/core/version.h"

namespace visrec::extract {
namespace {

constexpr const char* kStage = "extract";
using model::ChooseDevice;
using model::InitializeResNet;
using model::LoadStateDict;
using model::ResNet;

// Whether the oneDNN CPU kernels run, from --cpu-kernels, the device and the precision. An
// explicit "onednn" that cannot apply is an error, not a silent fallback.
bool UseOneDnn(const std::string& want, const torch::Device& d, torch::Dtype t, bool torchscript) {
  if (want == "eager") return false;
  std::string why;
  if (!d.is_cpu()) why = "they are CPU kernels and this run uses " + d.str();
  else if (!model::OneDnnAvailable()) why = "this LibTorch (" + model::TorchVersion() + ") has no oneDNN";
  else if (t != torch::kFloat && !(t == torch::kBFloat16 && !torchscript))
    why = torchscript ? "a TorchScript model runs them in fp32 only" : "they run fp32 or bf16";
  if (why.empty()) return true;
  if (want == "onednn") throw UsageError("extract: --cpu-kernels onednn cannot apply: " + why + "; use --cpu-kernels auto|eager");
  return false;
}

// A model behind one interface: built-in ResNet or TorchScript.
class FeatureModel {
 public:
  virtual ~FeatureModel() = default;
  virtual torch::Tensor Features(const torch::Tensor& x) = 0;
  // Moves the model; returns the CPU kernels it runs with ("onednn" or "eager").
  virtual std::string To(torch::Device d, torch::Dtype t, bool channels_last, const std::string& cpu_kernels) = 0;
};

class BuiltinModel : public FeatureModel {
 public:
  explicit BuiltinModel(ResNet n) : net_(std::move(n)) { net_->eval(); }
  torch::Tensor Features(const torch::Tensor& x) override { return fused_ ? fused_->features(x) : net_->features(x); }
  std::string To(torch::Device d, torch::Dtype t, bool channels_last, const std::string& cpu_kernels) override {
    if (UseOneDnn(cpu_kernels, d, t, false)) {
      fused_ = std::make_unique<model::FusedResNet>(net_, t);
      return "onednn";
    }
    net_->to(d, t);
    if (channels_last) {
      torch::NoGradGuard g;
      for (auto& p : net_->parameters())
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
    return "eager";
  }

 private:
  ResNet net_;
  std::unique_ptr<model::FusedResNet> fused_;
};

class ScriptModel : public FeatureModel {
 public:
  explicit ScriptModel(torch::jit::script::Module m) : m_(std::move(m)) { m_.eval(); }
  torch::Tensor Features(const torch::Tensor& x) override {
    torch::IValue out = m_.forward({x});
    torch::Tensor t;
    if (out.isTensor()) t = out.toTensor();
    else if (out.isTuple() && out.toTuple()->elements().size() > 0 && out.toTuple()->elements()[0].isTensor())
      t = out.toTuple()->elements()[0].toTensor();
    else throw InputError("--model: the TorchScript model's output is not a tensor");
    if (t.dim() == 4) t = t.mean({2, 3});  // a feature map: global average pool
    if (t.dim() != 2) throw InputError("--model: output must be [N, D] or [N, C, H, W], got " + std::to_string(t.dim()) + "-d");
    return t;
  }
  std::string To(torch::Device d, torch::Dtype t, bool, const std::string& cpu_kernels) override {
    m_.to(d, t);
    if (!UseOneDnn(cpu_kernels, d, t, true)) return "eager";
    try {
      m_ = torch::jit::optimize_for_inference(m_);  // freeze, fold batch norm, oneDNN layout
      return "onednn";
    } catch (const c10::Error& e) {
      if (cpu_kernels == "onednn")
        throw InputError("--model-file: torch::jit::optimize_for_inference failed (" +
                         std::string(e.what_without_backtrace()).substr(0, 200) + "); use --cpu-kernels eager");
      spdlog::warn("extract: the TorchScript model cannot be optimized for oneDNN; it runs eager");
      return "eager";
    }
  }

 private:
  torch::jit::script::Module m_;
};


// Bounded producer/consumer: batch i+1 is read and normalized while batch i runs.
struct Batch {
  torch::Tensor input;  // float32 NCHW (plain, or a view over channels-last storage)
  int64_t first = 0, count = 0;
};

class BatchQueue {
 public:
  void Push(Batch b) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return q_.size() < 2 || stop_; });
    q_.push_back(std::move(b));
    cv_.notify_all();
  }
  bool Pop(Batch* b) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !q_.empty() || done_ || stop_; });
    if (q_.empty()) return false;
    *b = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return true;
  }
  void Done() { std::lock_guard<std::mutex> l(mu_); done_ = true; cv_.notify_all(); }
  void Stop() { std::lock_guard<std::mutex> l(mu_); stop_ = true; cv_.notify_all(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> q_;
  bool done_ = false, stop_ = false;
};

}  // namespace

struct PhotoEmbedder::Impl {
  std::unique_ptr<FeatureModel> model;
  torch::Device device{torch::kCPU};
  torch::Dtype dtype = torch::kFloat;
  bool channels_last = true;
  int crop = 0;
  int64_t dim = 0;
  float scale[3], shift[3];
};

namespace {
// An input file of an artifact (weights, model), checked against its recorded digest.
fs::path CheckedInputFile(const Artifact& a, const std::string& role) {
  for (const auto& in : a.manifest["inputs"])
    if (in.value("role", "") == role) {
      fs::path p = in.value("path", "");
      std::error_code ec;
      if (!fs::exists(p, ec))
        throw ArtifactError("the " + role + " file '" + p.string() + "' that made " + a.dir.string() +
                            " is gone; restore it or rerun extract");
      if (Sha256File(p) != in.value("digest", ""))
        throw ArtifactError("the " + role + " file '" + p.string() + "' changed since " + a.dir.string() +
                            " was made; rerun extract so queries and the catalog use the same model");
      return p;
    }
  return {};
}
}  // namespace

PhotoEmbedder::PhotoEmbedder(const Artifact& ex, const std::string& device, int threads) : impl_(new Impl) {
  if (ex.stage != kStage) throw ArtifactError("'" + ex.dir.string() + "' is a " + ex.stage + " artifact, expected extract");
  const json& p = ex.manifest["params"];
  Impl& m = *impl_;
  m.device = ChooseDevice(device);
  at::set_num_threads(ResolveThreads(threads));
  const std::string precision = p.value("precision", "fp32");
  if (precision == "fp16" && !m.device.is_cuda())
    throw UsageError("the extract artifact ran in fp16, which needs CUDA; this query runs on " + m.device.str());
  model::RequireCpuBf16("query", m.device.is_cpu(), precision);
  m.dtype = precision == "bf16" ? torch::kBFloat16 : (precision == "fp16" ? torch::kHalf : torch::kFloat);
  m.channels_last = p.value("channels_last", true);
  // The crop size comes from the preprocess artifact the features were made from.
  m.crop = OpenParent(ex, "preprocess", "preprocess").manifest["params"].at("crop").get<int>();
  const auto mean = p.at("normalize_mean").get<std::array<double, 3>>();
  const auto stdv = p.at("normalize_std").get<std::array<double, 3>>();
  for (int k = 0; k < 3; ++k) {
    m.scale[k] = float(1.0 / (255.0 * stdv[size_t(k)]));
    m.shift[k] = float(-mean[size_t(k)] / stdv[size_t(k)]);
  }
  const std::string kind = p.value("model", "");
  if (kind == "torchscript") {
    fs::path f = CheckedInputFile(ex, "model");
    try {
      m.model = std::make_unique<ScriptModel>(torch::jit::load(f.string()));
    } catch (const c10::Error& e) {
      throw InputError("cannot load TorchScript model '" + f.string() + "': " + std::string(e.what_without_backtrace()).substr(0, 300));
    }
  } else {
    ResNet net(kind);
    InitializeResNet(net, p.value("init_seed", uint64_t(0)));
    fs::path w = CheckedInputFile(ex, "weights");
    if (!w.empty()) LoadStateDict(net, w.string());
    m.model = std::make_unique<BuiltinModel>(net);
  }
  // Same kernels as the stage that made the features; artifacts from before the option ran eager.
  std::string kernels = p.value("cpu_kernels", "eager");
  m.model->To(m.device, m.dtype, m.channels_last, kernels == "onednn" ? "auto" : kernels);
  m.dim = ex.manifest["counts"].value("dim", int64_t(0));
}

PhotoEmbedder::~PhotoEmbedder() = default;
int PhotoEmbedder::crop() const { return impl_->crop; }
int64_t PhotoEmbedder::dim() const { return impl_->dim; }
std::string PhotoEmbedder::device() const { return impl_->device.str(); }

std::vector<float> PhotoEmbedder::Embed(const uint8_t* rgb) {
  return model::GuardTorch("query", [&] { return EmbedUnguarded(rgb); });
}

std::vector<float> PhotoEmbedder::EmbedUnguarded(const uint8_t* rgb) {
  Impl& m = *impl_;
  torch::InferenceMode inference;
  const int64_t c = m.crop;
  torch::Tensor nhwc = torch::empty({1, c, c, 3}, torch::kFloat);
  float* d = nhwc.data_ptr<float>();
  for (int64_t q = 0; q < c * c * 3; q += 3)
    for (int k = 0; k < 3; ++k) d[q + k] = rgb[q + k] * m.scale[k] + m.shift[k];
  torch::Tensor x = nhwc.permute({0, 3, 1, 2});
  if (!m.channels_last) x = x.contiguous();
  torch::Tensor f = m.model->Features(x.to(m.device, m.dtype)).to(torch::kCPU, torch::kFloat).contiguous();
  f = f / f.norm(2, 1, true).clamp_min(1e-12);
  if (m.dim != 0 && f.size(1) != m.dim)
    throw ArtifactError("the model gives " + std::to_string(f.size(1)) + "-d features but the artifact holds " +
                        std::to_string(m.dim) + "-d ones");
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}


void ExtractOptions::Validate() const {
  if (model_file.empty() && model != "resnet18" && model != "resnet34" && model != "resnet50" && model != "resnet101")
    throw UsageError("extract: --model must be resnet18|resnet34|resnet50|resnet101 (or --model-file FILE.pt)");
  if (!model_file.empty() && !weights.empty())
    throw UsageError("extract: --weights applies to built-in models; a --model-file carries its own weights "
                     "(a --config file may set model-file: clear it with --model-file \"\")");
  if (device != "auto" && device != "cpu" && device != "cuda") throw UsageError("extract: --device must be auto|cpu|cuda");
  if (precision != "fp32" && precision != "bf16" && precision != "fp16")
    throw UsageError("extract: --precision must be fp32|bf16|fp16");
  if (cpu_kernels != "auto" && cpu_kernels != "onednn" && cpu_kernels != "eager")
    throw UsageError("extract: --cpu-kernels must be auto|onednn|eager");
  if (batch_size < 0 || batch_size > 4096) throw UsageError("extract: --batch-size must be in [1, 4096], or 0 for the default");
  CheckRange("extract: --max-failed-fraction", max_failed_fraction, 0, 1);
}

static StageResult RunUnguarded(const ExtractOptions& options, const RunContext& ctx) {
  options.Validate();
  ExtractOptions o = options;
  o.weights = WeightsByName(o.weights, o.model, "extract");
  auto t0 = std::chrono::steady_clock::now();
  Artifact pre = o.preprocess.empty() ? OpenLatest(ctx.workdir, "preprocess", VerifyLevel::kCheap, ctx.shard.Pointer())
                                      : OpenArtifact(o.preprocess);
  if (pre.stage != "preprocess")
    throw ArtifactError("extract: '" + pre.dir.string() + "' is a " + pre.stage + " artifact, expected preprocess");
  if (pre.manifest["params"].value("shard", "") != (ctx.shard.active() ? ctx.shard.Text() : ""))
    throw UsageError("extract: the preprocess artifact " + pre.dir.string() + " is shard '" +
                     pre.manifest["params"].value("shard", "none") + "' but this extract runs shard '" +
                     (ctx.shard.active() ? ctx.shard.Text() : "none") + "'; give both stages the same --shard");
  const json& pp = pre.manifest["params"];
  const int crop = pp.at("crop").get<int>();
  std::array<double, 3> mean = pp.at("mean").get<std::array<double, 3>>();
  std::array<double, 3> stdv = pp.at("std").get<std::array<double, 3>>();

  const torch::Device device = ChooseDevice(o.device);
  if (o.precision == "fp16" && !device.is_cuda())
    throw UsageError("extract: --precision fp16 runs on CUDA only; on CPU use bf16 (AMX/AVX-512-BF16) or fp32");
  model::RequireCpuBf16("extract", device.is_cpu(), o.precision);
  const int threads = ResolveThreads(ctx.threads);
  at::set_num_threads(threads);  // Debian's LibTorch defaults to one thread

  // Model and its identity (part of the key).
  std::vector<ArtifactInput> inputs{pre.AsInput("preprocess")};
  json params{{"precision", o.precision}, {"channels_last", o.channels_last}, {"cpu_kernels", o.cpu_kernels},
              {"pooling", "mean of L2-normalized photo features"}};
  std::unique_ptr<FeatureModel> model;
  int64_t dim = 0;
  bool untrained = false;
  if (!o.model_file.empty()) {
    inputs.push_back({"model", "file", fs::absolute(o.model_file).string(), Sha256File(o.model_file)});
    params["model"] = "torchscript";
    if (std::optional<ModelInput> decl = ReadModelInput(o.model_file, "")) {
      // The model's declared input, unless preprocess was explicitly given other values.
      const json src = pre.manifest["extra"].value("input_source", json::object());
      if (decl->mean && src.value("mean", "") != "option") mean = *decl->mean;
      if (decl->std && src.value("std", "") != "option") stdv = *decl->std;
      if (decl->crop && *decl->crop != crop) {
        const std::string what = decl->source + " declares input " + std::to_string(*decl->crop) +
                                 " but the preprocess artifact has crop " + std::to_string(crop);
        if (src.value("crop", "") != "option")
          throw InputError(what + "; rerun preprocess with --model-file " + o.model_file.string() + " (or --crop " +
                           std::to_string(*decl->crop) + ")");
        spdlog::warn("extract: {} (set explicitly); the model sees inputs unlike those it was trained on", what);
      }
      fs::path sidecar = o.model_file;
      sidecar.replace_extension(".json");
      params["sidecar"] = decl->raw;
      inputs.push_back({"model_sidecar", "file", fs::absolute(sidecar).string(), Sha256File(sidecar)});
    }
  } else {
    params["model"] = o.model;
    if (!o.weights.empty()) inputs.push_back({"weights", "file", fs::absolute(o.weights).string(), Sha256File(o.weights)});
    else params["init_seed"] = o.init_seed;
    untrained = o.weights.empty();
  }
  params["normalize_mean"] = mean;
  params["normalize_std"] = stdv;
  // The device does not enter the key on purpose: CPU and CUDA give the same features within
  // tolerance; it is recorded in the manifest's producer.
  const std::string key = ComputeArtifactKey(kStage, kStageVersion, params, inputs);
  if (auto up = FindUpToDate(ctx, kStage, key)) return *up;

  if (!o.model_file.empty()) {
    try {
      model = std::make_unique<ScriptModel>(torch::jit::load(o.model_file.string()));
    } catch (const c10::Error& e) {
      throw InputError("--model-file '" + o.model_file.string() + "' is not a TorchScript model LibTorch " +
                       TorchVersion() + " can load: " + std::string(e.what_without_backtrace()).substr(0, 300));
    }
  } else {
    ResNet net(o.model);
    InitializeResNet(net, o.init_seed);
    if (!o.weights.empty()) LoadStateDict(net, o.weights.string());
    dim = net->feature_dim();
    model = std::make_unique<BuiltinModel>(net);
  }
  if (untrained)
    spdlog::warn("extract: NO WEIGHTS GIVEN - {} runs with a fixed-seed random initialisation; features are "
                 "UNTRAINED and only good for testing the pipeline. See README 'Pretrained weights'.", o.model);
  torch::Dtype dtype = o.precision == "bf16" ? torch::kBFloat16 : (o.precision == "fp16" ? torch::kHalf : torch::kFloat);
  const std::string kernels = model->To(device, dtype, o.channels_last, o.cpu_kernels);
  const int batch = o.batch_size > 0 ? o.batch_size : device.is_cuda() ? 64 : 8;

  // Image table of the preprocess artifact.
  CsvTable images = ReadCsv(pre.File("images.csv"));
  const int c_item = images.Column("item_id"), c_shard = images.Column("shard"), c_row = images.Column("shard_row"),
            c_sha = images.Column("sha256");
  if (c_item < 0 || c_shard < 0 || c_row < 0 || c_sha < 0)
    throw ArtifactError("extract: " + pre.File("images.csv").string() + " lacks item_id/shard/shard_row/sha256");
  const int64_t n = int64_t(images.rows.size());

  // Reuse photo features from the previous extract artifact with identical parameters and model,
  // made from pixels preprocessed with identical parameters: then the same source bytes (sha256)
  // mean the same pixels and the same feature.
  std::map<std::string, int64_t> prev_row;
  NpyArray<float> prev_feat;
  try {
    Artifact prev = OpenLatest(ctx.workdir, kStage, VerifyLevel::kCheap, ctx.shard.Pointer());
    json pk = prev.manifest["params"];
    bool same_model = true, same_pixels = false;
    for (const auto& in : prev.manifest["inputs"]) {
      for (const auto& mine : inputs)
        if (in["role"] == mine.role && mine.role != "preprocess" && in["digest"] != mine.digest) same_model = false;
      if (in["role"] == "preprocess")
        same_pixels = OpenArtifact(in["path"].get<std::string>()).manifest["params"] == pp;
    }
    if (pk == params && same_model && same_pixels) {
      prev_feat = prev.ReadArray<float>("photo_features.npy");
      CsvTable ps = ReadCsv(prev.File("photos.csv"));
      for (size_t i = 0; i < ps.rows.size(); ++i) prev_row[ps.rows[i][1]] = int64_t(i);
    }
  } catch (const Error&) {
  }

  torch::InferenceMode inference;
  if (dim == 0) {  // TorchScript: learn the feature size from one dummy input
    auto probe = torch::zeros({1, 3, crop, crop}).to(device, dtype);
    dim = model->Features(probe).size(1);
  }
  // A previous version is only reusable with the same feature size (same model, so always, unless
  // its files were tampered with); otherwise every photo is computed.
  if (prev_feat.cols() != dim) prev_row.clear();

  // Which photos need the model; the others are copied from the previous version.
  std::vector<int64_t> todo;
  std::vector<float> photo(size_t(n) * size_t(dim), 0.f);
  for (int64_t i = 0; i < n; ++i) {
    auto it = prev_row.find(images.rows[size_t(i)][size_t(c_sha)]);
    if (it != prev_row.end() && it->second < prev_feat.rows())
      std::copy_n(prev_feat.data.begin() + it->second * dim, dim, photo.begin() + i * dim);
    else
      todo.push_back(i);
  }

  // Producer: reads uint8 rows from shards, normalizes into float32: NCHW for the oneDNN kernels
  // (which take fp32 and convert to their own layout and precision in one reorder) and for eager
  // without channels-last; NHWC otherwise.
  const bool planar = kernels == "onednn" || !o.channels_last;
  BatchQueue queue;
  const size_t px = size_t(crop) * size_t(crop) * 3;
  std::exception_ptr producer_error;
  const bool pin = device.is_cuda();
  std::thread producer([&] {
    try {
      std::map<std::string, std::pair<std::unique_ptr<std::FILE, int (*)(std::FILE*)>, size_t>> files;
      float scale[3], shift[3];
      for (int k = 0; k < 3; ++k) { scale[k] = float(1.0 / (255.0 * stdv[size_t(k)])); shift[k] = float(-mean[size_t(k)] / stdv[size_t(k)]); }
      std::vector<uint8_t> buf(px);
      // Batch buffers are reused once the model is done with them: a fresh multi-megabyte buffer
      // faults in every 4 KB page on first touch, which made filling a batch of 8 take 19 ms
      // instead of 0.2 ms here, on a core the model needs. (On CUDA the consumer's blocking copy of
      // the features back to the host orders the batch's upload before its buffer is released.)
      std::vector<torch::Tensor> pool;
      for (size_t s = 0; s < todo.size(); s += size_t(batch)) {
        int64_t cnt = int64_t(std::min(todo.size() - s, size_t(batch)));
        auto opts = torch::TensorOptions().dtype(torch::kFloat).pinned_memory(pin);
        torch::Tensor pixels;
        for (auto& t : pool)  // a buffer no batch in flight holds any more
          if (t.use_count() == 1 && t.size(0) == cnt) { pixels = t; break; }
        if (!pixels.defined()) {
          pixels = torch::empty({cnt, crop, crop, 3}, opts);
          if (pool.size() < 4) pool.push_back(pixels);
        }
        float* dst = pixels.data_ptr<float>();
        for (int64_t j = 0; j < cnt; ++j) {
          const auto& r = images.rows[size_t(todo[s + size_t(j)])];
          const std::string shard = r[size_t(c_shard)];
          auto it = files.find(shard);
          if (it == files.end()) {
            fs::path f = pre.File("pixels-" + shard + ".npy");
            NpyHeader h = ReadNpyHeader(f);
            it = files.emplace(shard, std::make_pair(std::unique_ptr<std::FILE, int (*)(std::FILE*)>(std::fopen(f.c_str(), "rb"), &std::fclose), h.data_offset)).first;
            if (!it->second.first) throw ArtifactError("cannot open " + f.string());
          }
          std::FILE* f = it->second.first.get();
          long off = long(it->second.second + size_t(std::stoll(r[size_t(c_row)])) * px);
          if (std::fseek(f, off, SEEK_SET) != 0 || std::fread(buf.data(), 1, px, f) != px)
            throw ArtifactError("short read in pixels-" + shard + ".npy of " + pre.dir.string());
          float* d = dst + size_t(j) * px;
          if (planar) {  // RGBRGB... -> RR..GG..BB..
            const size_t plane = px / 3;
            for (size_t q = 0; q < plane; ++q) {
              d[q] = buf[3 * q] * scale[0] + shift[0];
              d[plane + q] = buf[3 * q + 1] * scale[1] + shift[1];
              d[2 * plane + q] = buf[3 * q + 2] * scale[2] + shift[2];
            }
          } else {
            for (size_t q = 0; q < px; q += 3) {
              d[q] = buf[q] * scale[0] + shift[0];
              d[q + 1] = buf[q + 1] * scale[1] + shift[1];
              d[q + 2] = buf[q + 2] * scale[2] + shift[2];
            }
          }
        }
        // Planar storage is a plain NCHW tensor; interleaved storage viewed as NCHW is a
        // channels-last tensor, no copy either way.
        torch::Tensor x = planar ? pixels.view({cnt, 3, crop, crop}) : pixels.permute({0, 3, 1, 2});
        queue.Push({x, int64_t(s), cnt});
      }
    } catch (...) {
      producer_error = std::current_exception();
    }
    queue.Done();
  });

  Progress progress("extract", int64_t(todo.size()), "images");
  auto run_start = std::chrono::steady_clock::now();
  try {
    Batch b;
    while (queue.Pop(&b)) {
      torch::Tensor x = kernels == "onednn" ? b.input : b.input.to(device, dtype, /*non_blocking=*/true);
      torch::Tensor f = model->Features(x).to(torch::kCPU, torch::kFloat).contiguous();
      if (f.size(1) != dim) throw InputError("model produced " + std::to_string(f.size(1)) + "-d features, expected " + std::to_string(dim));
      f = f / f.norm(2, 1, true).clamp_min(1e-12);  // L2-normalize each photo's feature
      const float* fp = f.data_ptr<float>();
      for (int64_t j = 0; j < b.count; ++j)
        std::copy_n(fp + j * dim, dim, photo.begin() + todo[size_t(b.first + j)] * dim);
      progress.Add(b.count);
    }
  } catch (...) {
    queue.Stop();
    producer.join();
    throw;
  }
  producer.join();
  if (producer_error) std::rethrow_exception(producer_error);
  progress.Done();
  double model_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  for (float v : photo)
    if (!std::isfinite(v))
      throw InputError("extract: the model produced NaN/Inf features (bad weights, or fp16 overflow); "
                       "try --precision fp32");

  // Per item: mean of its photos' L2-normalized features, items in sorted id order.
  std::map<std::string, std::vector<int64_t>> rows_of;
  for (int64_t i = 0; i < n; ++i) rows_of[images.rows[size_t(i)][size_t(c_item)]].push_back(i);
  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  b.set_pointer(ctx.shard.Pointer());
  b.producer()["libtorch"] = TorchVersion();
  b.producer()["device"] = device.str();
  b.producer()["threads"] = threads;
  b.producer()["kernels"] = kernels;
  b.producer()["batch_size"] = batch;
  std::vector<float> items_feat;
  std::string ids;
  for (const auto& [id, rows] : rows_of) {
    std::vector<float> acc(size_t(dim), 0.f);
    for (int64_t r : rows)
      for (int64_t k = 0; k < dim; ++k) acc[size_t(k)] += photo[size_t(r * dim + k)] / float(rows.size());
    items_feat.insert(items_feat.end(), acc.begin(), acc.end());
    ids += id + "\n";
  }
  // Items the preprocess stage could not give a single photo: listed, not silently dropped.
  int64_t missing = 0;
  std::string missing_ids;
  for (const auto& f : pre.manifest["failures"])
    if (f["file"] == "" && !rows_of.count(f["id"].get<std::string>())) {
      ++missing;
      missing_ids += f["id"].get<std::string>() + "\n";
      b.AddFailure(f["id"], "", "no usable photo: no feature vector");
    }
  const int64_t items = int64_t(rows_of.size());
  if (items + missing > 0 && double(missing) / double(items + missing) > o.max_failed_fraction)
    throw TooManyFailuresError("extract: " + std::to_string(missing) + " of " + std::to_string(items + missing) +
                               " items have no usable photo (above --max-failed-fraction)");
  WriteNpy(b.Path("features.npy"), DType::kF32, {items, dim}, items_feat.data());
  WriteNpy(b.Path("photo_features.npy"), DType::kF32, {n, dim}, photo.data());
  WriteFileAtomic(b.Path("ids.txt"), ids);
  WriteFileAtomic(b.Path("items_without_features.txt"), missing_ids);
  std::string photos_csv = "row,sha256,item_id\n";
  for (int64_t i = 0; i < n; ++i)
    photos_csv += CsvLine({std::to_string(i), images.rows[size_t(i)][size_t(c_sha)], images.rows[size_t(i)][size_t(c_item)]});
  WriteFileAtomic(b.Path("photos.csv"), photos_csv);
  for (const char* f : {"features.npy", "photo_features.npy", "ids.txt", "items_without_features.txt", "photos.csv"})
    b.AddOutput(f);
  const int64_t computed = int64_t(todo.size());
  b.counts() = {{"items", items}, {"dim", dim}, {"photos", n}, {"photos_computed", computed},
                {"photos_reused", n - computed}, {"items_without_features", missing}};
  b.extra()["untrained"] = untrained;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  b.SetTiming("total", secs);
  b.SetTiming("model", model_secs);
  Artifact a = b.Commit();
  spdlog::info("extract: {} items x {} ({} photos computed at {:.1f} img/s, {} reused) on {} ({} kernels) -> {}", items,
               dim, computed, model_secs > 0 ? computed / model_secs : 0.0, n - computed, device.str(), kernels,
               a.dir.string());
  return StageResult{a, false, secs, a.manifest["counts"]};
}

StageResult Run(const ExtractOptions& o, const RunContext& ctx) {
  return model::GuardTorch("extract", [&] { return RunUnguarded(o, ctx); });
}

}  // namespace visrec::extract
