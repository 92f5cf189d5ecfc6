// Built-in ResNets with torchvision's parameter names, so torchvision weights load one-to-one,
// shared by the stages that run them (extract, finetune). This header pulls in LibTorch: include it
// only from those libraries' translation units.
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

#include "visrec/util/compute.h"

namespace visrec::model {

struct BasicBlockImpl : torch::nn::Module {
  static constexpr int kExpansion = 1;
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride, bool downsample);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

struct BottleneckImpl : torch::nn::Module {
  static constexpr int kExpansion = 4;
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride, bool downsample);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

struct ResNetImpl : torch::nn::Module {
  explicit ResNetImpl(const std::string& name);  // resnet18 | resnet34 | resnet50 | resnet101
  torch::Tensor forward(torch::Tensor x);        // logits (fc), for weight checks
  torch::Tensor features(torch::Tensor x);       // global-average-pooled last block = top(trunk(x))
  torch::Tensor trunk(torch::Tensor x);          // stem .. layer3 (frozen and cached by finetune)
  torch::Tensor top(torch::Tensor x);            // layer4 + global average pool
  int64_t feature_dim() const { return feature_dim_; }
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  int64_t feature_dim_ = 0;
};
TORCH_MODULE(ResNet);

// torchvision's initialisation (kaiming normal, fan_out) after torch::manual_seed(seed).
void InitializeResNet(ResNet& net, uint64_t seed);
// The tensors of a weights file, read by visrec/artifact/checkpoint.h without running any pickle code:
// torchvision's .pth as downloaded (torch.save of an OrderedDict, zip or legacy format), a plain
// dict saved by torch.save or LibTorch's pickle_save (finetune's weights.pt). InputError naming
// what is off.
std::map<std::string, torch::Tensor> ReadStateDict(const std::string& path);
// Loads such a file into the net; every parameter and buffer must be present with the right shape
// (fc.* may be absent). Throws visrec::InputError naming what is off.
void LoadStateDict(ResNet& net, const std::string& path);
// The inverse: writes the backbone's parameters and buffers (fc.* left out: features never use the
// classifier) as a plain dict that LoadStateDict and Python's torch.load both read, atomically.
void SaveBackboneStateDict(ResNet& net, const std::filesystem::path& path);

// --device resolved; an explicit cuda without a usable GPU is a DeviceError.
torch::Device ChooseDevice(Device want);
// The tensor type of a precision.
inline torch::Dtype TorchDtype(Precision p) {
  return p == Precision::kBf16 ? torch::kBFloat16 : (p == Precision::kFp16 ? torch::kHalf : torch::kFloat);
}

}  // namespace visrec::model
