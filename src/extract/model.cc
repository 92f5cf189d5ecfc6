#include <torch/script.h>

#include <spdlog/spdlog.h>

#include "phases.h"
#include "visrec/artifact/contracts.h"
#include "visrec/artifact/model_input.h"
#include "visrec/model/device.h"
#include "visrec/model/fused.h"
#include "visrec/model/resnet.h"
#include "visrec/util/errors.h"
#include "visrec/util/sha256.h"

namespace visrec::extract {
namespace {

// Whether the oneDNN CPU kernels run, from --cpu-kernels, the device and the precision. An
// explicit "onednn" that cannot apply is an error, not a silent fallback.
bool UseOneDnn(CpuKernels want, const torch::Device& d, torch::Dtype t, bool torchscript) {
  if (want == CpuKernels::kEager) return false;
  std::string why;
  if (!d.is_cpu())
    why = "they are CPU kernels and this run uses " + d.str();
  else if (!model::OneDnnAvailable())
    why = "this LibTorch (" + model::TorchVersion() + ") has no oneDNN";
  else if (t != torch::kFloat && !(t == torch::kBFloat16 && !torchscript))
    why = torchscript ? "a TorchScript model runs them in fp32 only" : "they run fp32 or bf16";
  if (why.empty()) return true;
  if (want == CpuKernels::kOneDnn)
    throw UsageError("extract: --cpu-kernels onednn cannot apply: " + why + "; use --cpu-kernels auto|eager");
  return false;
}

class BuiltinModel : public FeatureModel {
 public:
  explicit BuiltinModel(model::ResNet n) : net_(std::move(n)) { net_->eval(); }
  torch::Tensor Features(const torch::Tensor& x) override { return fused_ ? fused_->features(x) : net_->features(x); }
  CpuKernels To(torch::Device d, torch::Dtype t, bool channels_last, CpuKernels cpu_kernels) override {
    if (UseOneDnn(cpu_kernels, d, t, false)) {
      fused_ = std::make_unique<model::FusedResNet>(net_, t);
      return CpuKernels::kOneDnn;
    }
    net_->to(d, t);
    if (channels_last) {
      torch::NoGradGuard g;
      for (auto& p : net_->parameters())
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
    return CpuKernels::kEager;
  }
  int64_t declared_dim() const override { return net_->feature_dim(); }

 private:
  model::ResNet net_;
  std::unique_ptr<model::FusedResNet> fused_;
};

class ScriptModel : public FeatureModel {
 public:
  explicit ScriptModel(torch::jit::script::Module m) : m_(std::move(m)) { m_.eval(); }
  torch::Tensor Features(const torch::Tensor& x) override {
    torch::IValue out = m_.forward({x});
    torch::Tensor t;
    if (out.isTensor())
      t = out.toTensor();
    else if (out.isTuple() && out.toTuple()->elements().size() > 0 && out.toTuple()->elements()[0].isTensor())
      t = out.toTuple()->elements()[0].toTensor();
    else
      throw InputError("--model: the TorchScript model's output is not a tensor");
    if (t.dim() == 4) t = t.mean({2, 3});  // a feature map: global average pool
    if (t.dim() != 2)
      throw InputError("--model: output must be [N, D] or [N, C, H, W], got " + std::to_string(t.dim()) + "-d");
    return t;
  }
  CpuKernels To(torch::Device d, torch::Dtype t, bool, CpuKernels cpu_kernels) override {
    m_.to(d, t);
    if (!UseOneDnn(cpu_kernels, d, t, true)) return CpuKernels::kEager;
    try {
      m_ = torch::jit::optimize_for_inference(m_);  // freeze, fold batch norm, oneDNN layout
      return CpuKernels::kOneDnn;
    } catch (const c10::Error& e) {
      if (cpu_kernels == CpuKernels::kOneDnn)
        throw InputError("--model-file: torch::jit::optimize_for_inference failed (" +
                         std::string(e.what_without_backtrace()).substr(0, 200) + "); use --cpu-kernels eager");
      spdlog::warn("extract: the TorchScript model cannot be optimized for oneDNN; it runs eager");
      return CpuKernels::kEager;
    }
  }

 private:
  torch::jit::script::Module m_;
};

}  // namespace

std::unique_ptr<FeatureModel> MakeBuiltinModel(const std::string& name, uint64_t init_seed, const fs::path& weights) {
  model::ResNet net(name);
  model::InitializeResNet(net, init_seed);
  if (!weights.empty()) model::LoadStateDict(net, weights.string());
  return std::make_unique<BuiltinModel>(net);
}

std::unique_ptr<FeatureModel> MakeScriptModel(const fs::path& file, const std::string& load_error) {
  try {
    return std::make_unique<ScriptModel>(torch::jit::load(file.string()));
  } catch (const c10::Error& e) {
    throw InputError(load_error + ": " + std::string(e.what_without_backtrace()).substr(0, 300));
  }
}

ModelIdentity IdentifyModel(const ExtractOptions& o, const Artifact& pre) {
  const contract::PreprocessParams pp = contract::PreprocessParams::From(pre.manifest);
  const int crop = pp.crop;
  ModelIdentity id;
  id.mean = pp.mean;
  id.stdv = pp.std;
  id.inputs = {pre.AsInput("preprocess")};
  id.params = {{"precision", o.precision},
               {"channels_last", o.channels_last},
               {"cpu_kernels", o.cpu_kernels},
               {"pooling", "mean of L2-normalized photo features"}};
  if (!o.model_file.empty()) {
    id.inputs.push_back(FileInput("model", o.model_file));
    id.params["model"] = "torchscript";
    if (std::optional<ModelInput> decl = ReadModelInput(o.model_file, "")) {
      // The model's declared input, unless preprocess was explicitly given other values.
      if (decl->mean && !pp.mean_from_option) id.mean = *decl->mean;
      if (decl->std && !pp.std_from_option) id.stdv = *decl->std;
      if (decl->crop && *decl->crop != crop) {
        const std::string what = decl->source + " declares input " + std::to_string(*decl->crop) +
                                 " but the preprocess artifact has crop " + std::to_string(crop);
        if (!pp.crop_from_option)
          throw InputError(what + "; rerun preprocess with --model-file " + o.model_file.string() + " (or --crop " +
                           std::to_string(*decl->crop) + ")");
        spdlog::warn("extract: {} (set explicitly); the model sees inputs unlike those it was trained on", what);
      }
      fs::path sidecar = o.model_file;
      sidecar.replace_extension(".json");
      id.params["sidecar"] = decl->raw;
      id.inputs.push_back(FileInput("model_sidecar", sidecar));
    }
  } else {
    id.params["model"] = o.model;
    if (!o.weights.empty())
      id.inputs.push_back(FileInput("weights", o.weights));
    else
      id.params["init_seed"] = o.init_seed;
    id.untrained = o.weights.empty();
  }
  id.params["normalize_mean"] = id.mean;
  id.params["normalize_std"] = id.stdv;
  return id;
}

ImageTable ReadImageTable(const Artifact& pre) {
  ImageTable t;
  t.csv = ReadCsv(pre.File("images.csv"));
  t.c_item = t.csv.Column("item_id");
  t.c_shard = t.csv.Column("shard");
  t.c_row = t.csv.Column("shard_row");
  t.c_sha = t.csv.Column("sha256");
  if (t.c_item < 0 || t.c_shard < 0 || t.c_row < 0 || t.c_sha < 0)
    throw ArtifactError("extract: " + pre.File("images.csv").string() + " lacks item_id/shard/shard_row/sha256");
  return t;
}

}  // namespace visrec::extract
