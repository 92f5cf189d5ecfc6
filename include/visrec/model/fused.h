// An inference-only copy of a built-in ResNet for the CPU, run through oneDNN's own tensor layout:
// every batch norm is folded into the convolution before it (w' = w * g/sqrt(v+e),
// b' = b - m * g/sqrt(v+e)), the folded weights are reordered once into oneDNN's blocked layout,
// and activations stay in that layout from the stem to the pooled feature. This removes the
// per-layer batch-norm passes and layout conversions of the eager path (PERF-FACTS trap 4), the
// same rewrite `torch.jit.optimize_for_inference` does for a scripted model.
// Features equal the eager model's up to float rounding (fp32: relative 1e-5 range; tested).
#pragma once
#include <vector>

#include <torch/torch.h>

#include "visrec/model/device.h"
#include "visrec/model/resnet.h"

namespace visrec::model {

class FusedResNet {
 public:
  // Copies and folds the weights of `net` (eval-mode statistics); `dtype` is kFloat or kBFloat16
  // (bf16 keeps fp32 biases, as oneDNN's bf16 convolutions accumulate in fp32).
  FusedResNet(ResNet& net, torch::Dtype dtype);
  // x: [N, 3, H, W] float on the CPU, any memory format. Returns [N, D] float32 pooled features.
  torch::Tensor features(const torch::Tensor& x) const;

 private:
  struct Conv {
    torch::Tensor weight, bias;  // oneDNN tensors
    int64_t stride = 1, padding = 0;
    torch::Tensor operator()(const torch::Tensor& x) const;
  };
  struct Block {
    std::vector<Conv> convs;  // 2 (basic) or 3 (bottleneck); relu after each but the last
    bool has_down = false;
    Conv down;
  };
  torch::Dtype dtype_;
  Conv stem_;
  std::vector<Block> blocks_;
};

}  // namespace visrec::model
