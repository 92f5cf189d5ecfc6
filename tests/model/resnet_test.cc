// Built-in ResNets against torchvision: parameter names and shapes (all four models), and the
// pooled features of resnet18/resnet50 with deterministic weights (fixtures from
// tools/fixtures/make-resnet-fixtures.py, which fills torchvision's tensors with the same generator).
#include "visrec/model/fused.h"
#include "visrec/model/resnet.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "visrec/artifact/checkpoint.h"
#include "visrec/artifact/npy.h"
#include "visrec/util/errors.h"
#include "visrec/util/version.h"

namespace visrec::model {
namespace {

const std::string kDir = std::string(VISREC_FIXTURES_DIR) + "/extract/";

uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ULL;
  return h;
}

double Uniform(uint64_t base, uint64_t i) {
  uint64_t z = base + (i + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53;
}

// Mirrors fill() in tools/fixtures/make-resnet-fixtures.py.
void Fill(ResNet& net) {
  torch::NoGradGuard g;
  auto fill = [](const std::string& name, torch::Tensor& t) {
    if (t.scalar_type() != torch::kFloat) return;
    std::vector<float> buf(size_t(t.numel()));
    const uint64_t base = Fnv1a64(name);
    const int64_t n = t.numel();
    const double fan_in = t.dim() > 1 ? double(t[0].numel()) : 1.0;
    auto ends = [&](const char* s) {
      return name.size() >= std::strlen(s) && name.compare(name.size() - std::strlen(s), std::string::npos, s) == 0;
    };
    for (int64_t i = 0; i < n; ++i) {
      // Same float64 -> float32 rounding as torch.from_numpy(...).float() followed by the arithmetic.
      float u = float(Uniform(base, uint64_t(i)));
      float v;
      if (ends("running_var"))
        v = 0.5f + u;
      else if (ends("running_mean") || ends("bias"))
        v = (u - 0.5f) * 0.2f;
      else if (t.dim() == 1)
        v = 0.5f + u;
      else
        v = (2 * u - 1) * float(std::pow(3.0 / fan_in, 0.5));
      buf[size_t(i)] = v;
    }
    t.copy_(torch::from_blob(buf.data(), t.sizes()));
  };
  for (auto& p : net->named_parameters()) fill(p.key(), p.value());
  for (auto& b : net->named_buffers()) fill(b.key(), b.value());
}

TEST(ResNet, NamesAndShapesMatchTorchvision) {
  std::ifstream f(kDir + "names.json");
  nlohmann::json j = nlohmann::json::parse(f);
  for (auto& [model, names] : j["models"].items()) {
    ResNet net(model);
    std::map<std::string, std::vector<int64_t>> ours;
    for (auto& p : net->named_parameters()) ours[p.key()] = p.value().sizes().vec();
    for (auto& b : net->named_buffers()) ours[b.key()] = b.value().sizes().vec();
    EXPECT_EQ(ours.size(), names.size()) << model;
    for (auto& [name, shape] : names.items()) {
      ASSERT_TRUE(ours.count(name)) << model << " lacks " << name;
      EXPECT_EQ(ours[name], shape.get<std::vector<int64_t>>()) << model << " " << name;
    }
  }
}

// The model with the fixture weights, the fixture input and torchvision's features for it.
class FeatureParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    net = ResNet(GetParam());
    Fill(net);
    net->eval();
    auto in = ReadNpy<float>(kDir + "input.npy");
    auto expected = ReadNpy<float>(kDir + "features-" + GetParam() + ".npy");
    x = torch::from_blob(in.data.data(), {in.shape[0], in.shape[1], in.shape[2], in.shape[3]}).clone();
    want = torch::from_blob(expected.data.data(), {expected.shape[0], expected.shape[1]}).clone();
  }
  ResNet net{nullptr};
  torch::Tensor x, want;
};

TEST_P(FeatureParity, MatchesTorchvisionWithin1e4) {
  torch::InferenceMode guard;
  torch::Tensor f = net->features(x).contiguous();
  ASSERT_EQ(f.size(0), want.size(0));
  ASSERT_EQ(f.size(1), want.size(1));
  double max_rel = 0;
  const float* p = f.data_ptr<float>();
  const float* e = want.data_ptr<float>();
  float scale = 0;
  for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::abs(e[i]));
  for (int64_t i = 0; i < want.numel(); ++i) max_rel = std::max(max_rel, double(std::abs(p[i] - e[i])) / scale);
  RecordProperty("max_abs_err_over_max", std::to_string(max_rel));
  EXPECT_LE(max_rel, 1e-4);
  // Channels-last storage gives the same features.
  auto cl = x.contiguous(torch::MemoryFormat::ChannelsLast);
  EXPECT_TRUE(torch::allclose(net->features(cl), f, 1e-4, 1e-4 * scale));
}

// The oneDNN path (batch norm folded into the convolutions, blocked layout) against the same
// torchvision fixtures; the fixture weights have non-trivial batch-norm statistics, so a wrong fold
// shows. bf16 is held to what neighbours need: cosine to the fp32 features per image.
TEST_P(FeatureParity, FusedOneDnnPathMatchesTorchvisionWithin1e4) {
  if (!OneDnnAvailable()) GTEST_SKIP() << "LibTorch without oneDNN";
  FusedResNet fused(net, torch::kFloat);
  torch::Tensor f = fused.features(x);
  ASSERT_EQ(f.sizes(), want.sizes());
  const double scale = want.abs().max().item<double>();
  const double max_rel = ((f - want).abs().max().item<double>()) / scale;
  RecordProperty("fused_max_abs_err_over_max", std::to_string(max_rel));
  EXPECT_LE(max_rel, 1e-4);
  // Same features from channels-last input, and image by image (batch size does not matter).
  EXPECT_TRUE(torch::allclose(fused.features(x.contiguous(torch::MemoryFormat::ChannelsLast)), f, 1e-5, 1e-5 * scale));
  for (int64_t i = 0; i < x.size(0); ++i)
    EXPECT_TRUE(torch::allclose(fused.features(x.narrow(0, i, 1)), f.narrow(0, i, 1), 1e-5, 1e-5 * scale))
        << "image " << i;
  if (!CpuCanRunBf16(EffectiveCpuFeatures(), nullptr))
    GTEST_SKIP() << "fp32 checked; bf16 needs AVX-512 (oneDNN), which this CPU lacks";
  FusedResNet bf16(net, torch::kBFloat16);
  torch::Tensor g = bf16.features(x);
  ASSERT_EQ(g.scalar_type(), torch::kFloat);
  torch::Tensor cosine = torch::cosine_similarity(g, f, 1);
  EXPECT_GE(cosine.min().item<double>(), 0.99) << cosine;
  EXPECT_GT((g - f).abs().max().item<double>(), 0.0);  // bf16 really ran
}

INSTANTIATE_TEST_SUITE_P(Models, FeatureParity, ::testing::Values("resnet18", "resnet50"));

TEST(ResNet, WeightsFileErrorsSayWhatToDo) {
  ResNet net("resnet18");
  try {
    LoadStateDict(net, kDir + "partial.pt");  // a readable plain dict, but incomplete
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("lacks"), std::string::npos) << e.what();
  }
  try {
    LoadStateDict(net, kDir + "ordered.pt");  // torchvision's OrderedDict with _metadata: read, but only bn1
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("lacks"), std::string::npos) << e.what();
  }
  ResNet big("resnet50");
  EXPECT_THROW(LoadStateDict(big, kDir + "partial.pt"), InputError);  // conv1 fits, the rest is missing
  EXPECT_THROW(ResNet("resnet7"), UsageError);
}

TEST(ResNet, SavedAndReloadedWeightsGiveTheSameFeatures) {
  ResNet a("resnet18");
  Fill(a);
  std::map<std::string, torch::Tensor> dict;
  c10::Dict<std::string, torch::Tensor> d;
  for (auto& p : a->named_parameters()) d.insert(p.key(), p.value().detach().clone());
  for (auto& b : a->named_buffers()) d.insert(b.key(), b.value().detach().clone());
  auto bytes = torch::pickle_save(torch::IValue(d));
  std::string path = ::testing::TempDir() + "/w.pt";
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  // LibTorch's own format is one visrec's checkpoint reader reads too (no LibTorch fallback needed).
  EXPECT_EQ(ReadTorchCheckpoint(std::string(bytes.begin(), bytes.end()), "w.pt").tensors.size(), d.size());
  ResNet b("resnet18");
  InitializeResNet(b, 123);
  LoadStateDict(b, path);
  a->eval();
  b->eval();
  torch::InferenceMode guard;
  auto x = torch::rand({1, 3, 48, 48});
  EXPECT_TRUE(torch::equal(a->features(x), b->features(x)));
}

TEST(ResNet, FixedSeedInitialisationIsReproducible) {
  ResNet a("resnet18"), b("resnet18"), c("resnet18");
  InitializeResNet(a, 5);
  InitializeResNet(b, 5);
  InitializeResNet(c, 6);
  EXPECT_TRUE(torch::equal(a->conv1->weight, b->conv1->weight));
  EXPECT_FALSE(torch::equal(a->conv1->weight, c->conv1->weight));
}

}  // namespace
}  // namespace visrec::model
