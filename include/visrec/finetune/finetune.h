// `visrec finetune`: adapts a built-in ResNet to the catalog's own product classes, between
// preprocess and extract. A new linear head is trained on the labelled items' preprocessed photos
// (cross-entropy, Adam); the artifact's weights.pt loads into `extract --weights` like any
// torchvision state dict. This header carries no LibTorch types.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "visrec/artifact/stage.h"
#include "visrec/artifact/stage_versions.h"
#include "visrec/util/compute.h"

namespace visrec::finetune {

constexpr int kStageVersion = stage_version::kFinetune;

struct FinetuneOptions {
  std::filesystem::path preprocess;  // artifact dir; empty = WORKDIR/preprocess/latest
  std::filesystem::path catalog;     // labels; empty = the catalog the preprocess artifact was made from
  std::string label_column;          // required, e.g. "category"; items with an empty label are left out
  std::string model = "resnet18";    // built-in: resnet18 | resnet34 | resnet50 | resnet101
  std::filesystem::path weights;     // starting point (torchvision state dict); empty = fixed-seed init
  uint64_t init_seed = 0;            // initialisation when no weights are given (as in extract)
  // What trains: "head" (backbone frozen: its pooled features are computed once and cached),
  // "last-block" (layer4 + head; the frozen stem..layer3 activations are cached), "all" (every
  // layer, nothing cached: meant for GPUs).
  std::string train = "last-block";
  int epochs = 12;
  int batch_size = 32;
  double lr = 1e-3;                // Adam; the head's rate, the backbone's is lr * backbone_lr_scale
  double backbone_lr_scale = 0.1;  // pretrained layers move more slowly than the new head
  double weight_decay = 1e-4;      // L2 through Adam's weight_decay
  uint64_t seed = 0;               // split, head initialisation, batch order, augmentation
  double dev_fraction = 0.15;      // per class, by item (an item's photos never straddle parts)
  double test_fraction = 0.15;
  int patience = 3;  // early stopping: epochs without a better dev accuracy
  // Light augmentation. Cached modes ("head", "last-block") cache each photo as it is and mirrored
  // and draw one of the two per step; "all" also takes a random 85-100% crop and +-10% brightness
  // and contrast per step.
  bool augment = true;
  Device device = Device::kAuto;
  Precision precision = Precision::kFp32;  // autocast; bf16 on CPUs with AVX-512-BF16/AMX and CUDA, fp16 on CUDA
  int64_t cache_limit_mb = 8192;           // cached activations above this are an error naming what to change
  void Validate() const;
};

StageResult Run(const FinetuneOptions& options, const RunContext& context);

// The stratified split by item (split.cc; no LibTorch). Per class: items in id order, shuffled with
// a seed derived from `seed` and the class name, then cut into test, dev and train with
// round(n * fraction) items each, at least one test item, at least one dev item when the class has
// three or more, and at least one training item. Fails with InputError for fewer than two classes
// or a class with a single item, naming them.
enum class Part { kTrain, kDev, kTest };
// One photo's training augmentation, drawn from `state` (splitmix64): a mirror, a random square crop
// of 85-100 % of the side at a random offset (fractions of the free room), and contrast and brightness
// within +-10 %. Every quantity is its own draw, so none is tied to another.
struct AugmentDraw {
  bool flip = false;
  double crop_fraction = 1;           // side of the crop / side of the image, in [0.85, 1]
  double offset_y = 0, offset_x = 0;  // in [0, 1): where the crop starts, as a share of the room left
  double contrast = 1;                // in [0.9, 1.1]
  double brightness = 0;              // in [-0.1, 0.1], added to normalized values
};
AugmentDraw DrawAugmentation(uint64_t& state);

struct ItemSplit {
  std::vector<std::string> classes;     // sorted; class index = position
  std::map<std::string, int> label_of;  // item id -> class index
  std::map<std::string, Part> part_of;  // item id -> part
};
ItemSplit StratifiedSplit(const std::map<std::string, std::string>& label_of_item, double dev_fraction,
                          double test_fraction, uint64_t seed, const std::string& what);
const char* PartName(Part p);

}  // namespace visrec::finetune
