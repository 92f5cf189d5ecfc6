// `visrec extract`: CNN features per photo through LibTorch, pooled per item.
// This header carries no LibTorch types so callers compile without LibTorch headers.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "visrec/artifact/stage.h"
#include "visrec/artifact/stage_versions.h"
#include "visrec/model/device.h"
#include "visrec/util/compute.h"

namespace visrec::extract {

constexpr int kStageVersion = stage_version::kExtract;

struct ExtractOptions {
  std::filesystem::path preprocess;  // artifact dir; empty = WORKDIR/preprocess/latest
  std::string model = "resnet18";    // built-in: resnet18 | resnet34 | resnet50 | resnet101
  std::filesystem::path model_file;  // a TorchScript model instead of a built-in (sidecar JSON optional)
  std::filesystem::path weights;     // torchvision state_dict saved as a plain dict (tools/models/convert-weights.py)
  uint64_t init_seed = 0;            // fixed-seed initialisation when no weights are given
  Device device = Device::kAuto;
  Precision precision = Precision::kFp32;  // fp16 on CUDA only
  bool channels_last = true;               // NHWC activations (avoids oneDNN layout conversions; eager path)
  // CPU kernels: onednn folds batch norm into the convolutions and keeps activations in oneDNN's
  // layout (built-in models: visrec/model/fused.h; TorchScript: torch::jit::optimize_for_inference,
  // fp32 only); eager runs LibTorch module by module; auto = onednn where it applies (CPU,
  // fp32/bf16, a LibTorch with oneDNN), eager elsewhere. Features agree within float rounding.
  CpuKernels cpu_kernels = CpuKernels::kAuto;
  // Images per forward pass; 0 = by device: CPU 8 (the fastest batch for ResNet-50 on 2 cores with
  // the oneDNN kernels, AVX-512 and AVX2 alike: docs/benchmarks.md), CUDA 64. Not part of the key.
  int batch_size = 0;
  double max_failed_fraction = 0.1;  // items without a usable photo above this -> exit code 7
  void Validate() const;
};

StageResult Run(const ExtractOptions& options, const RunContext& context);

// Combines the extract artifacts of shards 0..N-1 (`extract --shard i/N`, found through their
// shard pointers) into one extract artifact equal to an unsharded run's: items in sorted id order,
// photos in catalog order. Checks that every shard exists, shares the model and parameters and
// comes from the same catalog, and that no item appears twice. Moves `latest`, so the next stage
// (`reduce`) reads the merged result.
StageResult MergeShards(int shards, const RunContext& context);

// The model of an extract artifact, rebuilt from its manifest (same built-in model and seed or
// weights, or the same TorchScript file, precision and normalization; files must still match their
// recorded digests). Turns one preprocessed photo into the feature the stage would have computed.
class PhotoEmbedder {
 public:
  PhotoEmbedder(const Artifact& extract_artifact, Device device, int threads);
  ~PhotoEmbedder();
  PhotoEmbedder(const PhotoEmbedder&) = delete;
  PhotoEmbedder& operator=(const PhotoEmbedder&) = delete;
  int crop() const;
  int64_t dim() const;
  std::string device() const;
  // rgb: crop x crop x 3 uint8 (preprocess output). Returns the L2-normalized feature.
  // LibTorch failures come out as DeviceError (exit 6), not as LibTorch's own exception.
  std::vector<float> Embed(const uint8_t* rgb);

 private:
  std::vector<float> EmbedUnguarded(const uint8_t* rgb);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

using model::CudaAvailableNow;
using model::CudaCompiledIn;
using model::OneDnnAvailable;
using model::TorchVersion;

}  // namespace visrec::extract
