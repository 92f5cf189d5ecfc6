#include "visrec/model/resnet.h"

#include <fstream>
#include <set>
#include <sstream>

#include "visrec/artifact/checkpoint.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec::model {

namespace nn = torch::nn;

namespace {
nn::Conv2d Conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}
}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t planes, int64_t stride, bool down) {
  conv1 = register_module("conv1", Conv(in, planes, 3, stride, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", Conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  if (down)
    downsample = register_module("downsample", nn::Sequential(Conv(in, planes, 1, stride, 0), nn::BatchNorm2d(planes)));
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  return torch::relu(out + (downsample ? downsample->forward(x) : x));
}

BottleneckImpl::BottleneckImpl(int64_t in, int64_t planes, int64_t stride, bool down) {
  conv1 = register_module("conv1", Conv(in, planes, 1, 1, 0));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", Conv(planes, planes, 3, stride, 1));  // torchvision v1.5: stride here
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", Conv(planes, planes * 4, 1, 1, 0));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * 4));
  if (down)
    downsample =
        register_module("downsample", nn::Sequential(Conv(in, planes * 4, 1, stride, 0), nn::BatchNorm2d(planes * 4)));
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  out = bn3(conv3(out));
  return torch::relu(out + (downsample ? downsample->forward(x) : x));
}

ResNetImpl::ResNetImpl(const std::string& name) {
  std::vector<int> blocks;
  bool bottleneck = false;
  if (name == "resnet18")
    blocks = {2, 2, 2, 2};
  else if (name == "resnet34")
    blocks = {3, 4, 6, 3};
  else if (name == "resnet50") {
    blocks = {3, 4, 6, 3};
    bottleneck = true;
  } else if (name == "resnet101") {
    blocks = {3, 4, 23, 3};
    bottleneck = true;
  } else
    throw UsageError("unknown model '" + name + "' (built-ins: resnet18, resnet34, resnet50, resnet101)");
  const int64_t expansion = bottleneck ? 4 : 1;
  conv1 = register_module("conv1", Conv(3, 64, 7, 2, 3));
  bn1 = register_module("bn1", nn::BatchNorm2d(64));
  int64_t in = 64;
  auto make_layer = [&](int64_t planes, int count, int64_t stride) {
    nn::Sequential seq;
    for (int i = 0; i < count; ++i) {
      int64_t s = i == 0 ? stride : 1;
      bool down = i == 0 && (s != 1 || in != planes * expansion);
      if (bottleneck)
        seq->push_back(Bottleneck(in, planes, s, down));
      else
        seq->push_back(BasicBlock(in, planes, s, down));
      in = planes * expansion;
    }
    return seq;
  };
  layer1 = register_module("layer1", make_layer(64, blocks[0], 1));
  layer2 = register_module("layer2", make_layer(128, blocks[1], 2));
  layer3 = register_module("layer3", make_layer(256, blocks[2], 2));
  layer4 = register_module("layer4", make_layer(512, blocks[3], 2));
  feature_dim_ = 512 * expansion;
  fc = register_module("fc", nn::Linear(feature_dim_, 1000));
}

torch::Tensor ResNetImpl::trunk(torch::Tensor x) {
  x = torch::relu(bn1(conv1(x)));
  x = torch::max_pool2d(x, 3, 2, 1);
  return layer3->forward(layer2->forward(layer1->forward(x)));
}

torch::Tensor ResNetImpl::top(torch::Tensor x) { return layer4->forward(x).mean({2, 3}); }

torch::Tensor ResNetImpl::features(torch::Tensor x) { return top(trunk(x)); }

torch::Tensor ResNetImpl::forward(torch::Tensor x) { return fc(features(x)); }

void InitializeResNet(ResNet& net, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (auto& m : net->modules(false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* b = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    }
  }
}

namespace {
torch::Dtype TorchType(ElementType t) {
  switch (t) {
    case ElementType::kFloat: return torch::kFloat;
    case ElementType::kDouble: return torch::kDouble;
    case ElementType::kHalf: return torch::kHalf;
    case ElementType::kBFloat16: return torch::kBFloat16;
    case ElementType::kLong: return torch::kLong;
    case ElementType::kInt: return torch::kInt;
    case ElementType::kShort: return torch::kShort;
    case ElementType::kChar: return torch::kChar;
    case ElementType::kByte: return torch::kByte;
    case ElementType::kBool: return torch::kBool;
  }
  return torch::kFloat;
}

// One checkpoint tensor as a LibTorch view of its storage's bytes (no copy; valid while `c` lives).
torch::Tensor ViewOf(const Checkpoint& c, const CheckpointTensor& t) {
  const CheckpointStorage& s = c.storages[t.storage];
  torch::Tensor flat = torch::from_blob(const_cast<char*>(s.bytes.data()), {s.numel}, TorchType(s.type));
  return flat.as_strided(t.sizes, t.strides, t.offset);
}

Checkpoint ReadWeightsFile(const std::string& path) {
  std::string bytes;
  try {
    bytes = ReadRegularFile(path, int64_t(4) << 30);  // ResNet-101's file is 170 MB
  } catch (const InputError& e) {
    throw InputError(std::string("--weights: ") + e.what());
  }
  return ReadTorchCheckpoint(bytes, "--weights '" + path + "'");
}
}  // namespace

std::map<std::string, torch::Tensor> ReadStateDict(const std::string& path) {
  const Checkpoint c = ReadWeightsFile(path);
  // A view may repeat its storage's elements (stride 0): bound what copying them all would cost.
  int64_t total = 0;
  for (const auto& t : c.tensors) {
    int64_t n = 1;
    for (int64_t d : t.sizes) n = std::min<int64_t>(n * d, int64_t(1) << 40);
    total = std::min<int64_t>(total + n, int64_t(1) << 40);
  }
  if (total > (int64_t(1) << 30))
    throw InputError("--weights '" + path + "': its tensors claim " + std::to_string(total) +
                     " elements, far more than any supported model (damaged or hostile file)");
  std::map<std::string, torch::Tensor> out;
  for (const auto& t : c.tensors) out[t.name] = ViewOf(c, t).clone();  // owns its memory, contiguous
  return out;
}

void LoadStateDict(ResNet& net, const std::string& path) {
  const Checkpoint c = ReadWeightsFile(path);
  // Names and shapes are checked on the file's metadata, before a single element is copied, so a
  // small file claiming huge tensors costs nothing; only what the model needs is materialized.
  std::map<std::string, const CheckpointTensor*> given;
  for (const auto& t : c.tensors) given[t.name] = &t;
  torch::NoGradGuard g;
  std::set<std::string> used;
  std::vector<std::string> missing;
  auto copy = [&](const std::string& name, torch::Tensor& dst) {
    auto it = given.find(name);
    if (it == given.end()) {
      if (name.rfind("fc.", 0) != 0) missing.push_back(name);
      return;
    }
    const c10::IntArrayRef sizes(it->second->sizes);
    if (sizes != dst.sizes()) {
      std::ostringstream ss;
      ss << "--weights '" << path << "': '" << name << "' has shape " << sizes << ", the model needs " << dst.sizes()
         << " (weights of another architecture? pick --model accordingly)";
      throw InputError(ss.str());
    }
    dst.copy_(ViewOf(c, *it->second).to(dst.dtype()));
    // Values a trained network cannot hold: they would give NaN or silently zero features.
    if (dst.is_floating_point() && !dst.isfinite().all().item<bool>())
      throw InputError("--weights '" + path + "': '" + name + "' holds NaN or infinite values (damaged file)");
    if (name.size() > 12 && name.compare(name.size() - 12, 12, ".running_var") == 0 && (dst < 0).any().item<bool>())
      throw InputError("--weights '" + path + "': '" + name + "' holds negative variances (damaged file)");
    used.insert(name);
  };
  for (auto& p : net->named_parameters()) copy(p.key(), p.value());
  for (auto& b : net->named_buffers()) copy(b.key(), b.value());
  if (!missing.empty())
    throw InputError("--weights '" + path + "' lacks " + std::to_string(missing.size()) + " tensor(s), e.g. '" +
                     missing[0] + "' (weights of another architecture?)");
  std::vector<std::string> unexpected;
  for (auto& [k, t] : given)
    if (!used.count(k) && k.rfind("fc.", 0) != 0) unexpected.push_back(k);
  if (!unexpected.empty())
    throw InputError("--weights '" + path + "' has " + std::to_string(unexpected.size()) +
                     " tensor(s) the model does not, e.g. '" + unexpected[0] + "' (another architecture?)");
}

void SaveBackboneStateDict(ResNet& net, const std::filesystem::path& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  auto keep = [&](const std::string& name, const torch::Tensor& t) {
    if (name.rfind("fc.", 0) == 0) return;
    // Saved as float32, contiguous NCHW on the CPU whatever the training device and layout were.
    dict.insert(name, t.detach().to(torch::kCPU, torch::kFloat).contiguous().clone());
  };
  for (const auto& p : net->named_parameters()) keep(p.key(), p.value());
  for (const auto& b : net->named_buffers()) keep(b.key(), b.value());
  std::vector<char> bytes = torch::pickle_save(torch::IValue(dict));
  WriteFileAtomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace visrec::model
