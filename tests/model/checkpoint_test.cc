// torchvision-format checkpoints read natively (visrec/artifact/checkpoint.h): the fixtures of
// tools/fixtures/make-checkpoint-fixtures.py hold one ResNet-18-shaped state_dict as torchvision publishes
// it (zip and legacy torch.save of an OrderedDict with _metadata) and as a plain dict.
#include <gtest/gtest.h>

#include <fstream>

#include "../test_util.h"
#include "visrec/artifact/checkpoint.h"
#include "visrec/model/resnet.h"
#include "visrec/util/errors.h"

namespace visrec::model {
namespace {

const std::string kDir = std::string(VISREC_FIXTURES_DIR) + "/checkpoint/";

std::string Bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The plain-dict route: LibTorch's own unpickler, as LoadStateDict used before it read torchvision files.
std::map<std::string, torch::Tensor> ViaLibTorch(const std::string& path) {
  std::string b = Bytes(path);
  torch::IValue v = torch::pickle_load(std::vector<char>(b.begin(), b.end()));
  std::map<std::string, torch::Tensor> out;
  for (const auto& kv : v.toGenericDict()) out[kv.key().toStringRef()] = kv.value().toTensor();
  return out;
}

TEST(Checkpoint, TorchvisionFilesEqualThePlainDictBitForBit) {
  const auto plain = ViaLibTorch(kDir + "resnet18-plain.pt");
  ASSERT_EQ(plain.size(), 122u);
  for (const char* file : {"resnet18-tv.pth", "resnet18-tv-legacy.pth"}) {
    Checkpoint c = ReadTorchCheckpoint(Bytes(kDir + file), file);
    EXPECT_EQ(c.format, std::string(file).find("legacy") == std::string::npos ? "zip" : "legacy");
    const auto ours = ReadStateDict(kDir + file);
    ASSERT_EQ(ours.size(), plain.size()) << file;
    for (const auto& [name, t] : plain) {
      ASSERT_TRUE(ours.count(name)) << file << " lacks " << name;
      EXPECT_EQ(ours.at(name).scalar_type(), t.scalar_type()) << name;
      EXPECT_TRUE(torch::equal(ours.at(name), t)) << file << ": " << name;
    }
  }
  EXPECT_EQ(plain.at("layer4.1.conv2.weight").scalar_type(), torch::kHalf) << "the fixture covers a HalfStorage";
  EXPECT_NE(plain.at("layer1.0.conv1.weight").stride(0), 64 * 9) << "the fixture covers non-contiguous views";

  // Features: a net loaded from torchvision's file equals one filled from the plain dict, to the bit.
  ResNet a("resnet18"), b("resnet18");
  LoadStateDict(a, kDir + "resnet18-tv.pth");
  {
    torch::NoGradGuard g;
    for (auto& p : b->named_parameters()) p.value().copy_(plain.at(p.key()).to(torch::kFloat));
    for (auto& p : b->named_buffers()) p.value().copy_(plain.at(p.key()).to(p.value().dtype()));
  }
  a->eval();
  b->eval();
  torch::InferenceMode guard;
  torch::manual_seed(3);
  auto x = torch::rand({2, 3, 64, 64});
  auto fa = a->features(x), fb = b->features(x);
  EXPECT_TRUE(fa.isfinite().all().item<bool>());
  EXPECT_GT(fa.abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(fa, fb));
}

TEST(Checkpoint, HostileFilesFailNamingTheProblem) {
  ResNet net("resnet18");
  auto load = [&](const char* file) { return [&net, file] { LoadStateDict(net, kDir + file); }; };
  testing::ExpectThrowWith<InputError>(load("truncated.pth"), {"truncated.pth", "truncated"});
  testing::ExpectThrowWith<InputError>(load("truncated-legacy.pth"), {"truncated-legacy.pth", "truncated"});
  testing::ExpectThrowWith<InputError>(load("short-storage.pth"), {"short-storage.pth", "storage", "bytes"});
  testing::ExpectThrowWith<InputError>(load("foreign-global.pth"), {"foreign-global.pth", "datetime.date", "refusing"});
  // Readable files with values no trained network has: caught before they make NaN or zero features.
  testing::ExpectThrowWith<InputError>(load("nan.pth"), {"nan.pth", "conv1.weight", "NaN"});
  testing::ExpectThrowWith<InputError>(load("negative-var.pth"), {"negative-var.pth", "running_var", "negative"});
  // A kilobyte claiming 2^27 elements under a name the model lacks: refused on its metadata, never
  // materialized (it used to be cloned at full size first).
  testing::ExpectThrowWith<InputError>(load("amplified.pth"), {"amplified.pth", "layer1.0.junk", "does not"});
}

// Every prefix and many single-byte edits of a real file: an InputError or a valid result, never
// a crash or an out-of-bounds view (the fuzz target `checkpoint` does this at scale).
TEST(Checkpoint, DamagedBytesAreRejectedCleanly) {
  for (const char* file : {"resnet18-tv.pth", "resnet18-tv-legacy.pth"}) {
    const std::string good = Bytes(kDir + file);
    int rejected = 0;
    for (size_t cut = 0; cut < good.size(); cut += 97) {
      try {
        ReadTorchCheckpoint(good.substr(0, cut), "x");
      } catch (const InputError&) {
        ++rejected;
      }
    }
    EXPECT_EQ(rejected, int((good.size() + 96) / 97)) << file << ": every truncation is an error";
    for (size_t at = 0; at < good.size(); at += 61) {
      std::string bad = good;
      bad[at] = char(bad[at] ^ 0x5a);
      try {
        Checkpoint c = ReadTorchCheckpoint(bad, "x");
        for (const auto& t : c.tensors) ASSERT_LT(t.storage, c.storages.size());
      } catch (const InputError&) {}
    }
  }
}

}  // namespace
}  // namespace visrec::model
