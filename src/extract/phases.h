// The phases of `visrec extract`, in the order Run calls them:
//   model.cc     the model's identity (key inputs and parameters) and the model itself, built-in
//                ResNet or TorchScript, behind FeatureModel
//   reuse.cc     features of photos whose bytes the previous version already embedded
//   reader.cc    pixels read and normalized on a thread while the model runs (ComputePhotoFeatures)
//   extract.cc   options, the key, per-item pooling and the artifact (Run)
// embedder.cc holds PhotoEmbedder, query's one-photo path through the same FeatureModel.
#pragma once
#include <torch/torch.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/csv.h"
#include "visrec/extract/extract.h"

namespace visrec::extract {

constexpr const char* kStage = "extract";

// A model behind one interface: built-in ResNet or TorchScript.
class FeatureModel {
 public:
  virtual ~FeatureModel() = default;
  virtual torch::Tensor Features(const torch::Tensor& x) = 0;
  // Moves the model; returns the CPU kernels it runs with (kOneDnn or kEager).
  virtual CpuKernels To(torch::Device d, torch::Dtype t, bool channels_last, CpuKernels cpu_kernels) = 0;
  // The feature size when known without running the model (built-in ResNets); 0 otherwise.
  virtual int64_t declared_dim() const { return 0; }
};
std::unique_ptr<FeatureModel> MakeBuiltinModel(const std::string& name, uint64_t init_seed, const fs::path& weights);
// `load_error` leads the message when LibTorch cannot load the file.
std::unique_ptr<FeatureModel> MakeScriptModel(const fs::path& file, const std::string& load_error);

// What decides the features besides the pixels: the key's inputs and parameters, and the
// normalization the model takes (its sidecar's, unless preprocess was given other values).
struct ModelIdentity {
  std::vector<ArtifactInput> inputs;
  json params;
  std::array<double, 3> mean, stdv;
  bool untrained = false;
};
ModelIdentity IdentifyModel(const ExtractOptions& o, const Artifact& preprocess);

// The image table of a preprocess artifact and its columns.
struct ImageTable {
  CsvTable csv;
  int c_item = -1, c_shard = -1, c_row = -1, c_sha = -1;
  int64_t rows() const { return int64_t(csv.rows.size()); }
  const std::string& Cell(int64_t row, int column) const { return csv.rows[size_t(row)][size_t(column)]; }
};
ImageTable ReadImageTable(const Artifact& preprocess);

// Photo features reusable from the previous extract artifact with identical parameters and model,
// made from pixels preprocessed with identical parameters: then the same source bytes (sha256)
// mean the same pixels and the same feature. Empty when there is none.
struct ReusableFeatures {
  std::map<std::string, int64_t> row_of_sha;
  NpyArray<float> features;
};
ReusableFeatures FindReusable(const RunContext& ctx, const ModelIdentity& id, const json& preprocess_params);

// Fills `photo` rows listed in `todo` by running the model; the pixels of the next batch are read
// and normalized on a second thread meanwhile. Returns the seconds the model loop took.
struct FeatureRun {
  FeatureModel& model;
  torch::Device device;
  torch::Dtype dtype;
  CpuKernels kernels;  // kOneDnn takes plain NCHW fp32; kEager takes what channels_last says
  bool channels_last = true;
  int batch = 8;
  int64_t dim = 0;
};
double ComputePhotoFeatures(const FeatureRun& run, const Artifact& preprocess, const ImageTable& images,
                            const std::array<double, 3>& mean, const std::array<double, 3>& stdv,
                            const std::vector<int64_t>& todo, std::vector<float>& photo);

}  // namespace visrec::extract
