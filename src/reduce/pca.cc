#include "visrec/reduce/pca.h"

#include <cmath>
#include <random>

#include "visrec/core/errors.h"

namespace visrec::reduce {
namespace {

void FixSigns(Eigen::MatrixXd& comps) {
  for (Eigen::Index r = 0; r < comps.rows(); ++r) {
    Eigen::Index arg = 0;
    comps.row(r).cwiseAbs().maxCoeff(&arg);
    if (comps(r, arg) < 0) comps.row(r) *= -1;
  }
}

// Gaussian test matrix from a fixed seed (mt19937_64 + Box-Muller, portable across libraries).
Eigen::MatrixXd Gaussian(Eigen::Index rows, Eigen::Index cols, uint64_t seed) {
  std::mt19937_64 g(seed);
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    double u1 = (double(g() >> 11) + 1.0) * 0x1.0p-53, u2 = double(g() >> 11) * 0x1.0p-53;
    m.data()[i] = std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }
  return m;
}

}  // namespace

PcaModel FitPca(const MatrixF& x, const PcaFitOptions& o) {
  const Eigen::Index n = x.rows(), d = x.cols();
  if (n < 2) throw InputError("PCA needs at least 2 items, got " + std::to_string(n));
  for (Eigen::Index i = 0; i < n; ++i)
    if (!x.row(i).allFinite()) throw InputError("PCA input row " + std::to_string(i) + " contains NaN or Inf");
  int k = o.dims;
  if (o.variance_target <= 0) {
    if (k < 1) throw UsageError("reduce: --dims must be >= 1");
    if (k > d) throw UsageError("reduce: --dims " + std::to_string(k) + " exceeds the feature dimension " + std::to_string(d));
    if (k > n - 1)
      throw InputError("reduce: --dims " + std::to_string(k) + " needs at least " + std::to_string(k + 1) +
                       " items, the input has " + std::to_string(n) + "; lower --dims");
  }
  PcaModel m;
  m.whiten = o.whiten;
  Eigen::MatrixXd xc = x.cast<double>();
  m.mean = xc.colwise().mean().transpose();
  xc.rowwise() -= m.mean.transpose();
  m.total_variance = xc.squaredNorm() / double(n - 1);
  if (!(m.total_variance > 0)) throw InputError("PCA input has zero variance (all items identical)");

  std::string method = o.method;
  if (method == "auto")
    method = (o.variance_target > 0 || d <= 512 || k > d / 4) ? "exact" : "randomized";
  if (o.variance_target > 0) method = "exact";
  m.method = method;
  if (method == "exact") {
    Eigen::MatrixXd cov = (xc.transpose() * xc) / double(n - 1);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);
    if (es.info() != Eigen::Success) throw InputError("PCA eigendecomposition did not converge");
    Eigen::VectorXd ev = es.eigenvalues().reverse().cwiseMax(0.0);
    Eigen::MatrixXd vecs = es.eigenvectors().rowwise().reverse();
    if (o.variance_target > 0) {
      double cum = 0;
      k = 0;
      while (k < d && k < n - 1) {
        cum += ev(k) / m.total_variance;
        ++k;
        if (cum >= o.variance_target - 1e-12) break;
      }
    }
    m.variance = ev.head(k);
    m.components = vecs.leftCols(k).transpose();
  } else {
    const Eigen::Index l = std::min<Eigen::Index>(d, k + o.oversample);
    Eigen::MatrixXd q = xc * Gaussian(d, l, o.seed);
    for (int it = 0; it < o.power_iterations; ++it) {
      q = Eigen::HouseholderQR<Eigen::MatrixXd>(q).householderQ() * Eigen::MatrixXd::Identity(n, l);
      Eigen::MatrixXd z = xc.transpose() * q;
      z = Eigen::HouseholderQR<Eigen::MatrixXd>(z).householderQ() * Eigen::MatrixXd::Identity(d, l);
      q = xc * z;
    }
    q = Eigen::HouseholderQR<Eigen::MatrixXd>(q).householderQ() * Eigen::MatrixXd::Identity(n, l);
    Eigen::MatrixXd bsmall = q.transpose() * xc;  // l x d
    // Eigen of the small l x l Gram matrix gives the right singular vectors cheaply.
    Eigen::MatrixXd gram = bsmall * bsmall.transpose();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(gram);
    Eigen::VectorXd s2 = es.eigenvalues().reverse().cwiseMax(0.0);
    Eigen::MatrixXd u = es.eigenvectors().rowwise().reverse();
    m.variance = s2.head(k) / double(n - 1);
    Eigen::MatrixXd v(k, d);
    for (int r = 0; r < k; ++r) {
      Eigen::VectorXd row = bsmall.transpose() * u.col(r);
      double nr = row.norm();
      if (nr > 0) v.row(r) = (row / nr).transpose(); else v.row(r).setZero();
    }
    m.components = v;
  }
  FixSigns(m.components);
  m.ratio = m.variance / m.total_variance;
  return m;
}

MatrixF Project(const PcaModel& m, const MatrixF& x) {
  if (x.cols() != m.mean.size())
    throw InputError("PCA model expects " + std::to_string(m.mean.size()) + "-d features, got " + std::to_string(x.cols()));
  Eigen::MatrixXd xc = x.cast<double>();
  xc.rowwise() -= m.mean.transpose();
  Eigen::MatrixXd p = xc * m.components.transpose();
  if (m.whiten)
    for (Eigen::Index c = 0; c < p.cols(); ++c) p.col(c) /= std::sqrt(std::max(m.variance(c), 1e-12));
  return p.cast<float>();
}

double ExplainedShare(const PcaModel& m, const MatrixF& x) {
  Eigen::MatrixXd xc = x.cast<double>();
  xc.rowwise() -= m.mean.transpose();
  double total = xc.squaredNorm();
  if (total <= 0) return 1.0;
  return (xc * m.components.transpose()).squaredNorm() / total;
}

}  // namespace visrec::reduce
