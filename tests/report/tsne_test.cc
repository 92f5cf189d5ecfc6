// The catalog map's t-SNE and PCA plane: classes kept together, determinism, and the agreement measure.
#include "visrec/report/tsne.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "visrec/util/errors.h"

namespace visrec::report {
namespace {

// n unit vectors in `classes` noisy Gaussian classes of 32 dims.
std::vector<float> Classes(int n, int classes, double noise, std::vector<std::string>* labels) {
  std::mt19937 g(5);
  std::normal_distribution<double> normal(0, 1);
  const int d = 32;
  std::vector<double> centre(size_t(classes * d));
  for (auto& c : centre) c = normal(g);
  std::vector<float> x(size_t(n * d));
  for (int i = 0; i < n; ++i) {
    const int c = i % classes;
    labels->push_back("class" + std::to_string(c));
    double norm = 0;
    for (int a = 0; a < d; ++a) {
      const double v = centre[size_t(c * d + a)] + noise * normal(g);
      x[size_t(i * d + a)] = float(v);
      norm += v * v;
    }
    for (int a = 0; a < d; ++a) x[size_t(i * d + a)] = float(x[size_t(i * d + a)] / std::sqrt(norm));
  }
  return x;
}

TEST(Tsne, KeepsClassesTogetherWherePcaCannotAndIsDeterministic) {
  std::vector<std::string> labels;
  const int n = 600;
  const std::vector<float> x = Classes(n, 12, 0.6, &labels);
  TsneOptions o;
  o.threads = 2;
  const std::vector<float> y = Tsne(x.data(), n, 32, o);
  ASSERT_EQ(y.size(), size_t(2 * n));
  for (float v : y) ASSERT_TRUE(std::isfinite(v));
  double explained[2];
  const std::vector<float> plane = PcaPlane(x.data(), n, 32, explained);
  const double tsne = MapNeighbourAgreement(y, labels, 10), pca = MapNeighbourAgreement(plane, labels, 10);
  EXPECT_GT(tsne, 0.95) << "PCA plane: " << pca;
  EXPECT_LT(pca, tsne - 0.2) << "twelve classes do not fit on two principal components";
  // Bit for bit the same with one thread.
  o.threads = 1;
  EXPECT_EQ(Tsne(x.data(), n, 32, o), y);
  // PCA: shares of variance in order, and the sign convention holds under a flipped input.
  EXPECT_GT(explained[0], explained[1]);
  EXPECT_GT(explained[1], 0.0);
  EXPECT_LT(explained[0] + explained[1], 1.0);
  std::vector<float> flipped = x;
  for (auto& v : flipped) v = -v;
  double again[2];
  const std::vector<float> plane2 = PcaPlane(flipped.data(), n, 32, again);
  for (size_t i = 0; i < plane.size(); ++i)
    ASSERT_NEAR(plane2[i], -plane[i], 1e-4) << "the data flipped, its projection too";
  // Too few items, bad options.
  EXPECT_THROW(Tsne(x.data(), 3, 32, o), InputError);
  o.perplexity = std::nan("");
  EXPECT_THROW(Tsne(x.data(), n, 32, o), UsageError);
}

TEST(Tsne, NeighbourAgreementOnHandMadeMaps) {
  const std::vector<float> line{0, 0, 1, 0, 10, 0, 11, 0};
  EXPECT_DOUBLE_EQ(MapNeighbourAgreement(line, {"a", "a", "b", "b"}, 1), 1.0);
  EXPECT_DOUBLE_EQ(MapNeighbourAgreement(line, {"a", "b", "a", "b"}, 1), 0.0);
  // k = 2: each point's two nearest are its partner and one of the other pair.
  EXPECT_DOUBLE_EQ(MapNeighbourAgreement(line, {"a", "a", "b", "b"}, 2), 0.5);
  // Unlabelled points are neither queries nor neighbours: 0 finds 2 (same), 2 finds 3, 3 finds 2.
  EXPECT_NEAR(MapNeighbourAgreement(line, {"a", "", "a", "b"}, 1), 1.0 / 3, 1e-12);
}

}  // namespace
}  // namespace visrec::report
