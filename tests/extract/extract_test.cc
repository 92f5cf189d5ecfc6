// The extract stage end to end on a tiny preprocessed catalog.
#include "visrec/extract/extract.h"

#include <gtest/gtest.h>

#include "../test_util.h"
#include "visrec/preprocess/preprocess.h"
#include "visrec/sample/sample.h"
#include "visrec/util/errors.h"
#include "visrec/util/version.h"

namespace visrec::extract {
namespace {

struct Tiny {
  testing::TempDir dir;
  RunContext ctx;
  Artifact pre;
  Tiny() {
    testing::MakeTinyCatalog(dir / "catalog", 10, 5, 48, 64);
    ctx.workdir = dir / "work";
    ctx.threads = 2;
    preprocess::PreprocessOptions p;
    p.catalog = dir / "catalog" / "catalog.csv";
    p.resize = 36;
    p.crop = 32;
    p.max_failed_fraction = 0.5;
    pre = preprocess::Run(p, ctx).artifact;
  }
};

TEST(Extract, BatchSizeIsNotPartOfTheKey) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  o.batch_size = 1;
  Artifact a = extract::Run(o, t.ctx).artifact;
  o.batch_size = 5;
  Artifact b = extract::Run(o, t.ctx).artifact;
  EXPECT_EQ(a.dir, b.dir) << "batch size changes no feature, so it is not part of the key";
}

TEST(Extract, BatchSizeInvariantWithin1e5) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  o.batch_size = 1;
  RunContext c1 = t.ctx;
  c1.workdir = t.dir / "w1";
  auto a = extract::Run(o, c1).artifact.ReadArray<float>("photo_features.npy");
  o.batch_size = 7;
  RunContext c2 = t.ctx;
  c2.workdir = t.dir / "w2";
  auto b = extract::Run(o, c2).artifact.ReadArray<float>("photo_features.npy");
  ASSERT_EQ(a.shape, b.shape);
  double worst = 0;
  for (size_t i = 0; i < a.data.size(); ++i) worst = std::max(worst, double(std::abs(a.data[i] - b.data[i])));
  EXPECT_LE(worst, 1e-5);
}

TEST(Extract, ManifestSaysUntrainedAndItemsWithoutPhotosAreListed) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  StageResult r = extract::Run(o, t.ctx);
  EXPECT_TRUE(r.artifact.manifest_json["extra"]["untrained"].get<bool>());
  EXPECT_EQ(r.artifact.manifest_json["producer"]["device"], "cpu");
  auto f = r.artifact.ReadArray<float>("features.npy");
  EXPECT_EQ(f.shape[1], 512);
  EXPECT_EQ(f.shape[0], 10);  // every sample item has at least one good photo
  // Rows are unit-norm means of unit-norm photo features: norm <= 1, > 0.
  for (int64_t i = 0; i < f.shape[0]; ++i) {
    double n = 0;
    for (int64_t k = 0; k < 512; ++k) n += double(f.data[size_t(i * 512 + k)]) * f.data[size_t(i * 512 + k)];
    EXPECT_LE(n, 1.0 + 1e-5);
    EXPECT_GT(n, 0.0);
  }
  // Rerun: up to date, nothing recomputed.
  EXPECT_TRUE(extract::Run(o, t.ctx).reused);
}

TEST(Extract, IncrementalReuseOfUnchangedPhotos) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  Artifact first = extract::Run(o, t.ctx).artifact;
  // Same photos, one catalog row dropped: a new preprocess version whose photos are all known.
  std::string cat = testing::ReadText(t.dir / "catalog" / "catalog.csv");
  auto last = cat.rfind('\n', cat.size() - 2);
  testing::WriteText(t.dir / "catalog" / "catalog.csv", cat.substr(0, last + 1));
  preprocess::PreprocessOptions p;
  p.catalog = t.dir / "catalog" / "catalog.csv";
  p.resize = 36;
  p.crop = 32;
  p.max_failed_fraction = 0.5;
  StageResult pre2 = preprocess::Run(p, t.ctx);
  EXPECT_EQ(pre2.artifact.manifest_json["counts"]["images_computed"], 0);
  o.preprocess = pre2.artifact.dir;
  StageResult second = extract::Run(o, t.ctx);
  EXPECT_FALSE(second.reused);
  EXPECT_EQ(second.artifact.manifest_json["counts"]["photos_computed"], 0);
  EXPECT_EQ(second.artifact.manifest_json["counts"]["photos"].get<int>(),
            first.manifest_json["counts"]["photos"].get<int>() - 1);
}

TEST(Extract, DeviceAndPrecisionErrors) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  if (!CudaAvailableNow()) {
    o.device = Device::kCuda;
    testing::ExpectThrowWith<DeviceError>([&] { extract::Run(o, t.ctx); }, {"CUDA"});
    o.device = Device::kCpu;
    o.precision = Precision::kFp16;
    EXPECT_THROW(extract::Run(o, t.ctx), UsageError);
  }
}

// bf16 on the CPU needs AVX-512 (oneDNN); on an AVX2-only CPU the stage refuses it (next test).
bool CpuRunsBf16() { return CpuCanRunBf16(EffectiveCpuFeatures(), nullptr); }

TEST(Extract, Bf16StaysCloseToFp32) {
  if (!CpuRunsBf16())
    GTEST_SKIP() << "this CPU has no AVX-512: bf16 is refused here (" << CpuFeaturesText(DetectCpuFeatures()) << ")";
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  auto f32 = extract::Run(o, t.ctx).artifact.ReadArray<float>("photo_features.npy");
  o.precision = Precision::kBf16;
  auto b16 = extract::Run(o, t.ctx).artifact.ReadArray<float>("photo_features.npy");
  const int64_t d = f32.shape[1];
  for (int64_t i = 0; i < f32.shape[0]; ++i) {
    double dot = 0;
    for (int64_t k = 0; k < d; ++k) dot += double(f32.data[size_t(i * d + k)]) * b16.data[size_t(i * d + k)];
    EXPECT_GE(dot, 0.99) << "photo " << i;  // both unit-norm: dot = cosine
  }
}

// On a CPU without AVX-512 (played here by masking the features visrec decides by), bf16 is
// refused with exit 6 naming the missing features, whatever --cpu-kernels says; fp32 still runs.
TEST(Extract, Bf16WithoutAvx512IsRefusedNamingTheFeatures) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  o.device = Device::kCpu;
  o.precision = Precision::kBf16;
  SetCpuLevelForTesting("avx2");
  for (CpuKernels kernels : {CpuKernels::kAuto, CpuKernels::kEager, CpuKernels::kOneDnn}) {
    o.cpu_kernels = kernels;
    try {
      extract::Run(o, t.ctx);
      ADD_FAILURE() << ChoiceName(kernels) << ": bf16 ran on a CPU without AVX-512";
    } catch (const DeviceError& e) {
      EXPECT_NE(std::string(e.what()).find("avx512bw avx512vl avx512dq"), std::string::npos) << e.what();
    }
  }
  o.precision = Precision::kFp32;
  o.cpu_kernels = CpuKernels::kAuto;
  EXPECT_NO_THROW(extract::Run(o, t.ctx));
  SetCpuLevelForTesting("");
}

// --cpu-kernels: the oneDNN path (default on CPU) and the eager path give the same features, each
// artifact says which ran, and an explicit onednn that cannot apply is refused, not ignored.
TEST(Extract, OneDnnAndEagerKernelsAgree) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  o.device = Device::kCpu;
  o.cpu_kernels = CpuKernels::kEager;
  Artifact eager = extract::Run(o, t.ctx).artifact;
  EXPECT_EQ(eager.manifest_json["producer"]["kernels"], "eager");
  o.cpu_kernels = CpuKernels::kAuto;
  Artifact fused = extract::Run(o, t.ctx).artifact;
  EXPECT_NE(eager.dir, fused.dir) << "the kernel choice is a parameter: changing it reruns the stage";
  if (!OneDnnAvailable()) GTEST_SKIP() << "LibTorch without oneDNN";
  EXPECT_EQ(fused.manifest_json["producer"]["kernels"], "onednn");
  auto a = eager.ReadArray<float>("photo_features.npy");
  auto b = fused.ReadArray<float>("photo_features.npy");
  ASSERT_EQ(a.shape, b.shape);
  double worst = 0;
  for (size_t i = 0; i < a.data.size(); ++i) worst = std::max(worst, double(std::abs(a.data[i] - b.data[i])));
  EXPECT_LE(worst, 1e-5);  // unit-norm features
  o.cpu_kernels = CpuKernels::kOneDnn;
  o.model_file = std::string(VISREC_FIXTURES_DIR) + "/extract/tiny.pt";
  o.precision = Precision::kBf16;  // TorchScript models take the oneDNN path in fp32 only
  if (CpuRunsBf16()) {
    testing::ExpectThrowWith<UsageError>([&] { extract::Run(o, t.ctx); }, {"--cpu-kernels"});
  } else {
    EXPECT_THROW(extract::Run(o, t.ctx), DeviceError);  // bf16 itself is refused first on this CPU
  }
}

TEST(Extract, TorchScriptModelWithSidecar) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  o.model_file = std::string(VISREC_FIXTURES_DIR) + "/extract/tiny.pt";
  StageResult r = extract::Run(o, t.ctx);
  EXPECT_EQ(r.artifact.manifest_json["counts"]["dim"], 6);                  // feature map of 6 channels, pooled
  EXPECT_EQ(r.artifact.manifest_json["params"]["normalize_mean"][0], 0.5);  // the sidecar's normalization
  o.model_file = std::string(VISREC_FIXTURES_DIR) + "/extract/names.json";  // not a model
  EXPECT_THROW(extract::Run(o, t.ctx), InputError);
}

}  // namespace
}  // namespace visrec::extract

namespace visrec::extract {
namespace {

TEST(Extract, NoReuseAcrossDifferentPreprocessParameters) {
  Tiny t;
  ExtractOptions o;
  o.preprocess = t.pre.dir;
  extract::Run(o, t.ctx);
  preprocess::PreprocessOptions p;
  p.catalog = t.dir / "catalog" / "catalog.csv";
  p.resize = 36;
  p.crop = 32;
  p.trim = preprocess::Trim::kOff;  // same source files, different pixels
  p.max_failed_fraction = 0.5;
  o.preprocess = preprocess::Run(p, t.ctx).artifact.dir;
  StageResult r = extract::Run(o, t.ctx);
  EXPECT_EQ(r.artifact.manifest_json["counts"]["photos_reused"], 0);
}

}  // namespace
}  // namespace visrec::extract
