#include "visrec/model/fused.h"

#include "visrec/util/errors.h"

namespace visrec::model {

namespace {
// conv (no bias) followed by an eval-mode batch norm, as one convolution with a bias.
std::pair<torch::Tensor, torch::Tensor> Fold(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn) {
  // Folded in double so the rewrite adds no rounding beyond the final cast.
  torch::Tensor w = conv.weight.detach().to(torch::kCPU, torch::kDouble).contiguous();
  torch::Tensor g = bn.weight.detach().to(torch::kCPU, torch::kDouble);
  torch::Tensor beta = bn.bias.detach().to(torch::kCPU, torch::kDouble);
  torch::Tensor mean = bn.running_mean.detach().to(torch::kCPU, torch::kDouble);
  torch::Tensor var = bn.running_var.detach().to(torch::kCPU, torch::kDouble);
  torch::Tensor k = g / torch::sqrt(var + bn.options.eps());
  return {(w * k.view({-1, 1, 1, 1})).to(torch::kFloat).contiguous(), (beta - mean * k).to(torch::kFloat).contiguous()};
}
}  // namespace

torch::Tensor FusedResNet::Conv::operator()(const torch::Tensor& x) const {
  return at::mkldnn_convolution(x, weight, bias, {padding, padding}, {stride, stride}, {1, 1}, 1);
}

FusedResNet::FusedResNet(ResNet& net, torch::Dtype dtype) : dtype_(dtype) {
  if (!OneDnnAvailable()) throw DeviceError("this LibTorch was built without oneDNN; use the eager CPU path");
  if (dtype != torch::kFloat && dtype != torch::kBFloat16) throw UsageError("the fused CPU path runs fp32 or bf16");
  torch::NoGradGuard no_grad;
  auto make = [&](const torch::nn::Conv2dImpl& c, const torch::nn::BatchNorm2dImpl& bn) {
    auto [w, b] = Fold(c, bn);
    Conv out;
    out.stride = c.options.stride()->at(0);
    // torchvision's ResNets pad every convolution by half its kernel (7->3, 3->1, 1->0); reading
    // it from the kernel avoids the options' variant type, which differs across LibTorch versions.
    out.padding = c.options.kernel_size()->at(0) / 2;
    out.weight = at::mkldnn_reorder_conv2d_weight(w.to_mkldnn(dtype), {out.padding, out.padding},
                                                  {out.stride, out.stride}, {1, 1}, 1);
    out.bias = b.to_mkldnn();  // fp32 bias in both precisions
    return out;
  };
  stem_ = make(*net->conv1, *net->bn1);
  for (const auto& layer : {net->layer1, net->layer2, net->layer3, net->layer4})
    for (const auto& m : layer->children()) {
      Block blk;
      torch::nn::Sequential down{nullptr};
      if (auto* b = m->as<BasicBlockImpl>()) {
        blk.convs = {make(*b->conv1, *b->bn1), make(*b->conv2, *b->bn2)};
        down = b->downsample;
      } else if (auto* bt = m->as<BottleneckImpl>()) {
        blk.convs = {make(*bt->conv1, *bt->bn1), make(*bt->conv2, *bt->bn2), make(*bt->conv3, *bt->bn3)};
        down = bt->downsample;
      } else {
        throw Error(ExitCode::kInternal, "FusedResNet: unexpected block type");
      }
      if (down) {
        blk.has_down = true;
        const auto* dc = down[0]->as<torch::nn::Conv2dImpl>();
        const auto* db = down[1]->as<torch::nn::BatchNorm2dImpl>();
        if (!dc || !db) throw Error(ExitCode::kInternal, "FusedResNet: unexpected downsample layout");
        blk.down = make(*dc, *db);
      }
      blocks_.push_back(std::move(blk));
    }
}

torch::Tensor FusedResNet::features(const torch::Tensor& input) const {
  torch::InferenceMode guard;
  torch::Tensor x = input.to_mkldnn(dtype_);
  x = stem_(x).relu_();
  x = at::mkldnn_max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  for (const Block& b : blocks_) {
    torch::Tensor out = x;
    for (size_t i = 0; i < b.convs.size(); ++i) {
      out = b.convs[i](out);
      if (i + 1 < b.convs.size()) out.relu_();
    }
    out.add_(b.has_down ? b.down(x) : x);
    x = out.relu_();
  }
  x = at::mkldnn_adaptive_avg_pool2d(x, {1, 1});
  return x.to_dense().to(torch::kFloat).flatten(1);
}

}  // namespace visrec::model
