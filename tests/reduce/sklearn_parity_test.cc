// visrec's PCA against scikit-learn on fixtures from tools/fixtures/make-pca-fixtures.py.
#include <gtest/gtest.h>

#include "visrec/artifact/npy.h"
#include "visrec/reduce/pca.h"

namespace visrec::reduce {
namespace {

const std::string kDir = std::string(VISREC_FIXTURES_DIR) + "/reduce/";

class SklearnParity : public ::testing::TestWithParam<PcaMethod> {};

TEST_P(SklearnParity, RatiosComponentsAndCoordinates) {
  auto x = ReadNpy<float>(kDir + "x.npy");
  auto comps = ReadNpy<double>(kDir + "components.npy");
  auto ratio = ReadNpy<double>(kDir + "explained_variance_ratio.npy");
  auto coords = ReadNpy<double>(kDir + "transformed.npy");
  const int k = int(comps.rows()), d = int(comps.cols()), n = int(x.rows());
  Eigen::Map<MatrixF> xm(x.data.data(), n, d);
  PcaFitOptions o;
  o.dims = k;
  o.method = GetParam();
  PcaModel m = FitPca(xm, o);
  MatrixF p = Project(m, xm);
  for (int c = 0; c < k; ++c) {
    EXPECT_NEAR(m.ratio(c), ratio.data[size_t(c)], 1e-4 * ratio.data[size_t(c)]) << "component " << c;
    Eigen::Map<Eigen::RowVectorXd> ref(comps.data.data() + size_t(c) * d, d);
    double cos = m.components.row(c).dot(ref);
    EXPECT_GE(std::abs(cos), 0.999) << "component " << c;
    const double sign = cos < 0 ? -1 : 1;  // sklearn flips signs by its own rule
    double max_err = 0, scale = 0;
    for (int i = 0; i < n; ++i) {
      max_err = std::max(max_err, std::abs(sign * p(i, c) - coords.data[size_t(i) * k + size_t(c)]));
      scale = std::max(scale, std::abs(coords.data[size_t(i) * k + size_t(c)]));
    }
    EXPECT_LE(max_err, 1e-3 * scale) << "component " << c;
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, SklearnParity, ::testing::Values(PcaMethod::kExact, PcaMethod::kRandomized));

}  // namespace
}  // namespace visrec::reduce
