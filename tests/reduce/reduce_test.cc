#include "visrec/reduce/reduce.h"

#include <gtest/gtest.h>

#include <random>

#include "../test_util.h"
#include "visrec/artifact/artifact.h"
#include "visrec/reduce/pca.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec::reduce {
namespace {

// A stand-in extract artifact: n items of d random features.
Artifact FakeExtract(const fs::path& workdir, int n, int d) {
  std::mt19937_64 g(7);
  std::normal_distribution<float> N(0, 1);
  std::vector<float> x(size_t(n) * size_t(d));
  for (size_t i = 0; i < x.size(); ++i) x[i] = N(g) * float(1 + i % size_t(d));
  std::string ids;
  for (int i = 0; i < n; ++i) ids += "item" + std::to_string(i) + "\n";
  ArtifactBuilder b(workdir, "extract", 1, {{"model", "fake"}}, {});
  WriteNpy(b.Path("features.npy"), DType::kF32, {n, d}, x.data());
  WriteFileAtomic(b.Path("ids.txt"), ids);
  b.AddOutput("features.npy");
  b.AddOutput("ids.txt");
  return b.Commit();
}

// The fit a query projects a photo with is read from the recommend run's reduce artifact, which a
// nightly run makes by applying an earlier fit: read back, it must be that fit, whitening included
// (it once came back unwhitened, with method "exact", from an applied artifact).
TEST(ReduceStage, AnAppliedFitReadsBackAsTheFitItApplied) {
  testing::TempDir t;
  RunContext ctx;
  ctx.workdir = t.path() / "w";
  ReduceOptions fit;
  fit.extract = FakeExtract(ctx.workdir, 40, 6).dir;
  fit.pca.dims = 3;
  fit.pca.whiten = true;
  const Artifact fitted = reduce::Run(fit, ctx).artifact;
  ReduceOptions apply = fit;
  apply.apply = fitted.dir;
  const Artifact applied = reduce::Run(apply, ctx).artifact;
  ASSERT_NE(applied.key, fitted.key);

  const PcaModel a = LoadFit(fitted), b = LoadFit(applied);
  EXPECT_TRUE(b.whiten);
  // The method that fitted, not the one asked for: the default "auto" resolved (6 dims: exact),
  // in the fit, the applied artifact and both read back.
  EXPECT_EQ(fit.pca.method, PcaMethod::kAuto);
  EXPECT_EQ(ChoiceName(a.method), std::string("exact"));
  EXPECT_EQ(ChoiceName(b.method), std::string("exact"));
  EXPECT_EQ(applied.manifest.Extra<std::string>("method"), "exact");
  // Applied fits of older versions recorded the method asked for ("auto"): still readable, as
  // "not recorded"; a name no version wrote is damage, exit 4 naming the key.
  const fs::path manifest = applied.dir / "manifest.json";
  json edited = json::parse(ReadFileBytes(manifest));
  edited["extra"]["method"] = "auto";
  WriteFileAtomic(manifest, edited.dump());
  EXPECT_EQ(LoadFit(OpenArtifact(applied.dir)).method, PcaMethod::kAuto);
  edited["extra"]["method"] = "svd";
  WriteFileAtomic(manifest, edited.dump());
  testing::ExpectThrowWith<ArtifactError>([&] { LoadFit(OpenArtifact(applied.dir)); }, {"extra.method", "svd"});
  // What the applied artifact holds is what its fit, read back, projects.
  const auto feats = OpenArtifact(fit.extract).ReadArray<float>("features.npy");
  const Eigen::Map<const MatrixF> x(feats.data.data(), feats.rows(), feats.cols());
  const MatrixF again = Project(b, x);
  const auto stored = applied.ReadArray<float>("reduced.npy");
  ASSERT_EQ(stored.rows(), again.rows());
  for (Eigen::Index i = 0; i < again.rows(); ++i)
    for (Eigen::Index k = 0; k < again.cols(); ++k)
      EXPECT_NEAR(again(i, k), stored.data[size_t(i * again.cols() + k)], 1e-5) << i << "," << k;
}

}  // namespace
}  // namespace visrec::reduce
