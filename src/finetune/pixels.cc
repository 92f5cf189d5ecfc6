#include "phases.h"
#include "visrec/artifact/contracts.h"
#include "visrec/util/errors.h"

namespace visrec::finetune {

PixelSource::PixelSource(const Artifact& pre, const std::vector<std::string>& shard_names) {
  const contract::PreprocessParams pp = contract::PreprocessParams::From(pre.manifest);
  crop_ = pp.crop;
  const auto mean = pp.mean;
  const auto stdv = pp.std;
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

torch::Tensor PixelSource::Batch(const std::vector<Photo>& photos, const std::vector<int64_t>& which) const {
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

}  // namespace visrec::finetune
