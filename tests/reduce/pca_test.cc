#include "visrec/reduce/pca.h"

#include <gtest/gtest.h>

#include <random>

#include "visrec/util/errors.h"

namespace visrec::reduce {
namespace {

// n x d data with a known decaying spectrum along a random orthonormal basis.
MatrixF LowRankData(int n, int d, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> N(0, 1);
  Eigen::MatrixXd basis = Eigen::MatrixXd::NullaryExpr(d, d, [&]() { return N(g); });
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(basis);
  Eigen::MatrixXd q = qr.householderQ();
  Eigen::MatrixXd z = Eigen::MatrixXd::NullaryExpr(n, d, [&]() { return N(g); });
  for (int c = 0; c < d; ++c) z.col(c) *= 10.0 / (1 + c);
  Eigen::MatrixXd x = z * q.transpose();
  x.rowwise() += Eigen::RowVectorXd::LinSpaced(d, 1, 5);
  return x.cast<float>();
}

TEST(Pca, ExactProperties) {
  MatrixF x = LowRankData(300, 20, 1);
  PcaFitOptions o;
  o.dims = 5;
  o.method = PcaMethod::kExact;
  PcaModel m = FitPca(x, o);
  ASSERT_EQ(m.components.rows(), 5);
  EXPECT_TRUE((m.components * m.components.transpose()).isIdentity(1e-9));
  for (int i = 1; i < 5; ++i) EXPECT_GE(m.variance(i - 1), m.variance(i));
  // Sign convention: largest-magnitude entry positive.
  for (int r = 0; r < 5; ++r) {
    Eigen::Index arg;
    m.components.row(r).cwiseAbs().maxCoeff(&arg);
    EXPECT_GT(m.components(r, arg), 0);
  }
  // Projected coordinates are centred and their variances are the eigenvalues.
  MatrixF p = Project(m, x);
  Eigen::MatrixXd pd = p.cast<double>();
  for (int c = 0; c < 5; ++c) {
    EXPECT_NEAR(pd.col(c).mean(), 0, 1e-3);
    EXPECT_NEAR((pd.col(c).array() - pd.col(c).mean()).square().sum() / 299, m.variance(c), 1e-3 * m.variance(c));
  }
  EXPECT_NEAR(m.ratio.sum(), ExplainedShare(m, x), 1e-6);
}

TEST(Pca, RandomizedAgreesWithExact) {
  MatrixF x = LowRankData(2000, 200, 2);
  PcaFitOptions e, r;
  e.dims = r.dims = 8;
  e.method = PcaMethod::kExact;
  r.method = PcaMethod::kRandomized;
  PcaModel me = FitPca(x, e), mr = FitPca(x, r);
  for (int c = 0; c < 8; ++c) {
    EXPECT_NEAR(mr.ratio(c), me.ratio(c), 1e-4 * me.ratio(c)) << c;
    EXPECT_GT(std::abs(me.components.row(c).dot(mr.components.row(c))), 0.999) << c;
    // Same sign convention, so the same sign.
    EXPECT_GT(me.components.row(c).dot(mr.components.row(c)), 0) << c;
  }
}

TEST(Pca, VarianceTargetPicksSmallestK) {
  MatrixF x = LowRankData(300, 12, 3);
  PcaFitOptions o;
  o.variance_target = 0.9;
  PcaModel m = FitPca(x, o);
  EXPECT_GE(m.ratio.sum(), 0.9 - 1e-12);
  EXPECT_LT(m.ratio.head(m.ratio.size() - 1).sum(), 0.9);
}

TEST(Pca, Whitening) {
  MatrixF x = LowRankData(500, 10, 4);
  PcaFitOptions o;
  o.dims = 3;
  o.whiten = true;
  PcaModel m = FitPca(x, o);
  Eigen::MatrixXd p = Project(m, x).cast<double>();
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(p.col(c).squaredNorm() / 499, 1.0, 1e-3);
}

TEST(Pca, BadInputIsAnErrorNotGarbage) {
  MatrixF x = LowRankData(10, 6, 5);
  PcaFitOptions o;
  o.dims = 7;
  EXPECT_THROW(FitPca(x, o), UsageError);  // K > D
  o.dims = 6;
  MatrixF few = x.topRows(4);
  EXPECT_THROW(FitPca(few, o), InputError);  // fewer rows than K + 1
  o.dims = 2;
  MatrixF bad = x;
  bad(3, 2) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(FitPca(bad, o), InputError);
  MatrixF flat = MatrixF::Constant(10, 6, 2.f);
  EXPECT_THROW(FitPca(flat, o), InputError);
  // Constant columns are fine: they carry no variance.
  MatrixF cc = x;
  cc.col(0).setConstant(3.f);
  PcaModel m = FitPca(cc, o);
  EXPECT_TRUE(m.components.allFinite());
  EXPECT_NEAR(m.components(0, 0), 0, 1e-6);
}

}  // namespace
}  // namespace visrec::reduce

namespace visrec::reduce {
namespace {

// Fisher ratio of 1-D projections: between-class spread over within-class spread.
double FisherRatio(const Eigen::VectorXd& p, const std::vector<int>& labels, int classes) {
  std::vector<double> sum(size_t(classes), 0), sq(size_t(classes), 0), cnt(size_t(classes), 0);
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    sum[size_t(labels[size_t(i)])] += p(i);
    cnt[size_t(labels[size_t(i)])] += 1;
  }
  double grand = p.mean(), between = 0, within = 0;
  for (int c = 0; c < classes; ++c) between += cnt[size_t(c)] * std::pow(sum[size_t(c)] / cnt[size_t(c)] - grand, 2);
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    int c = labels[size_t(i)];
    within += std::pow(p(i) - sum[size_t(c)] / cnt[size_t(c)], 2);
  }
  return between / within;
}

TEST(Lda, FindsTheDiscriminativeDirectionPcaMisses) {
  std::mt19937_64 g(1);
  std::normal_distribution<double> N(0, 1);
  const int n = 600, d = 10, classes = 3;
  MatrixF x(n, d);
  std::vector<int> labels(n);
  for (int i = 0; i < n; ++i) {
    labels[size_t(i)] = i % classes;
    for (int c = 0; c < d; ++c) x(i, c) = float(N(g));
    x(i, 0) *= 20.f;                            // large nuisance variance, no class information
    x(i, 3) += float(2.0 * labels[size_t(i)]);  // small, class-determined shift
  }
  PcaFitOptions o;
  o.dims = 1;
  o.method = PcaMethod::kExact;
  PcaModel pca = FitPca(x, o);
  PcaModel lda = FitLda(x, labels, 2);
  EXPECT_EQ(lda.components.rows(), 2);  // at most classes - 1
  Eigen::VectorXd pp = Project(pca, x).col(0).cast<double>(), pl = Project(lda, x).col(0).cast<double>();
  EXPECT_GT(FisherRatio(pl, labels, classes), 10 * FisherRatio(pp, labels, classes));
  EXPECT_GT(std::abs(lda.components(0, 3)), 0.9);  // the direction is the class axis
  // Unlabelled rows are ignored by the fit.
  std::vector<int> some = labels;
  for (int i = 0; i < 50; ++i) some[size_t(i)] = -1;
  EXPECT_NO_THROW(FitLda(x, some, 2));
}

TEST(Lda, TooSmallClassesAndSingleClassAreErrors) {
  MatrixF x = MatrixF::Random(6, 4);
  EXPECT_THROW(FitLda(x, {0, 0, 0, 1, 1, 2}, 2), InputError);  // class 2 has one item
  EXPECT_THROW(FitLda(x, {0, 0, 0, 0, 0, 0}, 2), InputError);  // one class
}

}  // namespace
}  // namespace visrec::reduce
