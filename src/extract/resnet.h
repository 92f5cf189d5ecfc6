// Built-in ResNets with torchvision's parameter names, so torchvision weights load one-to-one.
#pragma once
#include <string>

#include <torch/torch.h>

namespace visrec::extract {

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
  torch::Tensor forward(torch::Tensor x);          // logits (fc), for weight checks
  torch::Tensor features(torch::Tensor x);         // global-average-pooled last block
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
// Loads a plain dict name -> tensor saved by torch.save; every parameter and buffer must be
// present with the right shape (fc.* may be absent). Throws visrec::InputError naming what is off.
void LoadStateDict(ResNet& net, const std::string& path);

}  // namespace visrec::extract
