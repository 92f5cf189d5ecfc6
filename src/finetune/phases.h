// The phases of `visrec finetune`, in the order Run calls them:
//   labels.cc      the catalog's labels, the item split and the usable photos (GatherLabelledPhotos)
//   pixels.cc      preprocessed pixels as normalized tensors (PixelSource)
//   trainer.cc     the network, the frozen-layer cache, the training loop with early stopping (Trainer)
//   evaluation.cc  item-level test accuracy and the confusion summary (EvaluateTest)
//   finetune.cc    options, the artifact key, and the artifact (Run)
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/npy.h"
#include "visrec/finetune/finetune.h"
#include "visrec/model/resnet.h"

namespace visrec::finetune {

constexpr const char* kStage = "finetune";

// One labelled, usable photo of the preprocess artifact.
struct Photo {
  int shard = 0;      // index into the mapped pixel files
  int64_t row = 0;    // row in that file
  int item = 0;       // index into the item list
  int64_t label = 0;  // class index
  Part part = Part::kTrain;
};

struct LabelledPhotos {
  ItemSplit split;
  std::vector<std::string> item_ids;     // labelled items with a usable photo, sorted
  std::vector<std::string> shard_names;  // pixel shards the photos live in, in first-seen order
  std::vector<Photo> photos;             // images.csv order
  int64_t unlabelled_items = 0;          // catalog items whose label cell is empty
  std::vector<int64_t> PhotosOf(Part part) const;
  int64_t ItemsIn(Part part) const;
};
// Labels per item from `catalog` (an item whose rows disagree is an error naming both lines), the
// stratified split of the labelled items that have a usable photo, and those photos.
LabelledPhotos GatherLabelledPhotos(const Artifact& preprocess, const fs::path& catalog, const FinetuneOptions& o);

// Preprocessed uint8 pixels -> normalized float NCHW tensor (channels-last storage), as extract does.
class PixelSource {
 public:
  PixelSource(const Artifact& preprocess, const std::vector<std::string>& shard_names);
  int crop() const { return crop_; }
  torch::Tensor Batch(const std::vector<Photo>& photos, const std::vector<int64_t>& which) const;

 private:
  int crop_ = 0;
  float scale_[3], shift_[3];
  std::vector<std::unique_ptr<MappedNpy>> files_;
};

// Mixed precision where asked: bf16 (or fp16 on CUDA) matrix products, fp32 weights and loss.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& d, torch::Dtype t);
  ~AutocastScope();

 private:
  bool on_, cuda_;
};

struct EpochStats {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, dev_accuracy = -1, images_per_second = 0, seconds = 0;
};

struct TrainingOutcome {
  std::vector<EpochStats> history;
  double best_dev = -1;  // -1: no dev items
  int best_epoch = 0;
  bool stopped_early = false;
  double cache_seconds = 0, train_seconds = 0;
};

// The network being adapted: the backbone with a new linear head, what of it trains, its optimizer,
// and (in the cached modes) the frozen layers' output for every photo and view.
class Trainer {
 public:
  Trainer(const FinetuneOptions& o, const torch::Device& device, torch::Dtype autocast_dtype, int64_t classes);
  // Computes the frozen layers once ("head", "last-block"); a no-op for "all".
  void CacheFrozenLayers(const PixelSource& pixels, const LabelledPhotos& data, TrainingOutcome& out);
  // Epochs with early stopping on dev accuracy; leaves the best epoch's weights in place.
  void Fit(const PixelSource& pixels, const LabelledPhotos& data, TrainingOutcome& out);
  // Item-level predictions over `which` photos: softmax averaged over an item's photos, then argmax.
  std::map<int, int64_t> PredictItems(const PixelSource& pixels, const LabelledPhotos& data,
                                      const std::vector<int64_t>& which);
  model::ResNet& net() { return net_; }
  const torch::nn::Linear& head() const { return head_; }

 private:
  void SetMode(bool training);
  torch::Tensor Logits(const PixelSource& pixels, const LabelledPhotos& data, const std::vector<int64_t>& which,
                       bool augment);
  torch::Tensor AugmentedBatch(torch::Tensor x, int64_t crop);

  const FinetuneOptions& o_;
  torch::Device device_;
  torch::Dtype autocast_dtype_;
  model::ResNet net_;
  torch::nn::Linear head_{nullptr};
  std::vector<std::shared_ptr<torch::nn::Module>> trained_;  // head first
  std::unique_ptr<torch::optim::Adam> optimizer_;
  torch::Tensor cache_;  // row v * photos + i: view v (0 as is, 1 mirrored) of photo i
  int64_t views_ = 1;
  uint64_t aug_state_;
};

// Share of items whose predicted class is their label; -1 for no items.
double ItemAccuracy(const LabelledPhotos& data, const std::map<int, int64_t>& predicted);

struct TestReport {
  double accuracy = -1;
  json per_class;
  std::string confusion_csv;  // label,predicted,items for every non-zero cell
};
TestReport EvaluateTest(const LabelledPhotos& data, const std::map<int, int64_t>& predicted);

}  // namespace visrec::finetune
