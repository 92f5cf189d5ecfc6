// PhotoEmbedder: query's one-photo path through the model an extract artifact was made with.
#include "phases.h"
#include "visrec/artifact/contracts.h"
#include "visrec/model/device.h"
#include "visrec/model/resnet.h"
#include "visrec/util/errors.h"
#include "visrec/util/options.h"
#include "visrec/util/sha256.h"

namespace visrec::extract {

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
  for (const auto& in : a.manifest.InputsWithRole(role)) {
    fs::path p = in.path;
    std::error_code ec;
    if (!fs::exists(p, ec))
      throw ArtifactError("the " + role + " file '" + p.string() + "' that made " + a.dir.string() +
                          " is gone; restore it or rerun extract");
    if (Sha256File(p) != in.digest)
      throw ArtifactError("the " + role + " file '" + p.string() + "' changed since " + a.dir.string() +
                          " was made; rerun extract so queries and the catalog use the same model");
    return p;
  }
  return {};
}
}  // namespace

PhotoEmbedder::PhotoEmbedder(const Artifact& ex, Device device, int threads) : impl_(new Impl) {
  if (ex.stage != kStage)
    throw ArtifactError("'" + ex.dir.string() + "' is a " + ex.stage + " artifact, expected extract");
  const contract::ExtractParams p = contract::ExtractParams::From(ex.manifest);
  Impl& m = *impl_;
  m.device = model::ChooseDevice(device);
  at::set_num_threads(ResolveThreads(threads));
  const Precision precision = p.precision;
  if (precision == Precision::kFp16 && !m.device.is_cuda())
    throw UsageError("the extract artifact ran in fp16, which needs CUDA; this query runs on " + m.device.str());
  model::RequireCpuBf16("query", m.device.is_cpu(), precision);
  m.dtype = model::TorchDtype(precision);
  m.channels_last = p.channels_last;
  // The crop size comes from the preprocess artifact the features were made from.
  m.crop = contract::PreprocessParams::From(OpenParent(ex, "preprocess", "preprocess").manifest).crop;
  const auto mean = p.normalize_mean;
  const auto stdv = p.normalize_std;
  for (int k = 0; k < 3; ++k) {
    m.scale[k] = float(1.0 / (255.0 * stdv[size_t(k)]));
    m.shift[k] = float(-mean[size_t(k)] / stdv[size_t(k)]);
  }
  const std::string& kind = p.model;
  if (kind == "torchscript") {
    const fs::path f = CheckedInputFile(ex, "model");
    m.model = MakeScriptModel(f, "cannot load TorchScript model '" + f.string() + "'");
  } else {
    // The seed only matters without weights, and is recorded exactly then.
    m.model = MakeBuiltinModel(kind, p.init_seed.value_or(0), CheckedInputFile(ex, "weights"));
  }
  // Same kernels as the stage that made the features.
  m.model->To(m.device, m.dtype, m.channels_last,
              p.cpu_kernels == CpuKernels::kOneDnn ? CpuKernels::kAuto : p.cpu_kernels);
  m.dim = contract::ExtractSummary::From(ex.manifest).dim;
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

}  // namespace visrec::extract
