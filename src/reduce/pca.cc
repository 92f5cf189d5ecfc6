#include "visrec/reduce/pca.h"

#include <cmath>
#include <random>

#include "visrec/artifact/stage.h"
#include "visrec/util/blas.h"
#include "visrec/util/errors.h"
#include "visrec/util/parallel.h"

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

// Y = (X - 1 mu^T) W without forming the centred X: rows split across threads, then Y -= 1 (mu^T W).
// Y is preallocated by the caller and reused across iterations (fresh multi-MB buffers each time
// cost page faults that measured as a fifth of the fit on this VM).
void MulCentred(const MatrixRef& x, const Eigen::RowVectorXf& mu, const Eigen::MatrixXf& w, int threads,
                Eigen::MatrixXf& y) {
  y.resize(x.rows(), w.cols());
  const Eigen::Index block = (x.rows() + threads - 1) / threads;
  const Eigen::RowVectorXf shift = mu * w;
  ParallelFor(threads, threads, [&](int64_t t) {
    const Eigen::Index r0 = t * block, r1 = std::min<Eigen::Index>(x.rows(), r0 + block);
    if (r1 <= r0) return;
    y.middleRows(r0, r1 - r0).noalias() = x.middleRows(r0, r1 - r0) * w;
    y.middleRows(r0, r1 - r0).rowwise() -= shift;
  });
}

// (X - 1 mu^T)^T Q = X^T Q - mu (1^T Q), as a sum over row blocks added in a fixed order.
Eigen::MatrixXf TMulCentred(const MatrixRef& x, const Eigen::RowVectorXf& mu, const Eigen::MatrixXf& q, int threads) {
  std::vector<Eigen::MatrixXf> part(size_t(threads), Eigen::MatrixXf::Zero(x.cols(), q.cols()));
  const Eigen::Index block = (x.rows() + threads - 1) / threads;
  ParallelFor(threads, threads, [&](int64_t t) {
    const Eigen::Index r0 = t * block, r1 = std::min<Eigen::Index>(x.rows(), r0 + block);
    if (r1 > r0) part[size_t(t)].noalias() = x.middleRows(r0, r1 - r0).transpose() * q.middleRows(r0, r1 - r0);
  });
  for (int t = 1; t < threads; ++t) part[0] += part[size_t(t)];
  part[0].noalias() -= mu.transpose() * q.colwise().sum();
  return part[0];
}

// Orthonormalizes A's columns in place by CholeskyQR2: two passes of Gram -> Cholesky -> A R^-1,
// the Gram matrix and the solve in double, streamed over chunks of rows so no double copy of A is
// made (A is n x l, tall and skinny). Row chunks are split over `threads`. Falls back to Householder
// QR when the Gram matrix is not numerically positive definite.
void Orthonormalize(Eigen::MatrixXf& a, int threads) {
  const Eigen::Index n = a.rows(), l = a.cols();
  const Eigen::Index block = (n + threads - 1) / threads;
  constexpr Eigen::Index kChunk = 2048;
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<Eigen::MatrixXd> part(size_t(threads), Eigen::MatrixXd::Zero(l, l));
    ParallelFor(threads, threads, [&](int64_t t) {
      Eigen::MatrixXd c;
      for (Eigen::Index r = t * block; r < std::min<Eigen::Index>(n, (t + 1) * block); r += kChunk) {
        const Eigen::Index m = std::min<Eigen::Index>({kChunk, n - r, (t + 1) * block - r});
        c = a.middleRows(r, m).cast<double>();
        part[size_t(t)].noalias() += c.transpose() * c;
      }
    });
    for (int t = 1; t < threads; ++t) part[0] += part[size_t(t)];
    Eigen::LLT<Eigen::MatrixXd> llt(part[0]);
    if (llt.info() != Eigen::Success) {
      Eigen::HouseholderQR<Eigen::MatrixXf> qr(a);
      a = qr.householderQ() * Eigen::MatrixXf::Identity(n, l);
      return;
    }
    // A <- A R^-1 with R = U (Gram = U^T U): solve X U = A chunk by chunk.
    const Eigen::MatrixXd u = llt.matrixU();
    ParallelFor(threads, threads, [&](int64_t t) {
      Eigen::MatrixXd c;
      for (Eigen::Index r = t * block; r < std::min<Eigen::Index>(n, (t + 1) * block); r += kChunk) {
        const Eigen::Index m = std::min<Eigen::Index>({kChunk, n - r, (t + 1) * block - r});
        c = a.middleRows(r, m).cast<double>();
        u.triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(c);
        a.middleRows(r, m) = c.cast<float>();
      }
    });
  }
}

// K for a fixed-size fit, checked against the input; unused (and unchecked) with a variance target.
int CheckedDims(const PcaFitOptions& o, Eigen::Index n, Eigen::Index d) {
  const int k = o.dims;
  if (o.variance_target > 0) return k;
  if (k < 1) throw UsageError("reduce: --dims must be >= 1");
  if (k > d)
    throw UsageError("reduce: --dims " + std::to_string(k) + " exceeds the feature dimension " + std::to_string(d));
  if (k > n - 1)
    throw InputError("reduce: --dims " + std::to_string(k) + " needs at least " + std::to_string(k + 1) +
                     " items, the input has " + std::to_string(n) + "; lower --dims");
  return k;
}

// One pass over the input (it can be GBs): column sums and the sum of squares in double, row by
// row (row-major data), and the NaN/Inf check. Total variance = (sum of squares - n |mean|^2)/(n-1);
// double accumulation keeps the cancellation harmless at these sizes. The centred matrix is never
// formed: the products below subtract the mean's contribution instead. Sets mean and total_variance.
void MeanAndTotalVariance(const MatrixRef& x, int threads, PcaModel& m) {
  const Eigen::Index n = x.rows(), d = x.cols();
  std::vector<Eigen::VectorXd> part(size_t(threads), Eigen::VectorXd::Zero(d));
  std::vector<double> part_sq(size_t(threads), 0.0);
  std::vector<Eigen::Index> bad(size_t(threads), -1);
  const Eigen::Index block = (n + threads - 1) / threads;
  ParallelFor(threads, threads, [&](int64_t t) {
    Eigen::VectorXd row(d);
    for (Eigen::Index i = t * block; i < std::min<Eigen::Index>(n, (t + 1) * block); ++i) {
      row = x.row(i).transpose().cast<double>();
      const double rsq = row.squaredNorm();
      if (!std::isfinite(rsq)) {  // NaN, or an Inf (whose square is Inf)
        bad[size_t(t)] = i;
        return;
      }
      part[size_t(t)] += row;
      part_sq[size_t(t)] += rsq;
    }
  });
  for (Eigen::Index b : bad)
    if (b >= 0) throw InputError("PCA input row " + std::to_string(b) + " contains NaN or Inf");
  m.mean = Eigen::VectorXd::Zero(d);
  for (auto& p : part) m.mean += p;
  m.mean /= double(n);
  double sq = 0;
  for (double p : part_sq) sq += p;
  const double raw = sq;
  sq -= double(n) * m.mean.squaredNorm();
  // Identical rows leave only rounding of the subtraction; below float resolution it is zero.
  if (sq <= 1e-13 * raw) sq = 0;
  m.total_variance = sq / double(n - 1);
  if (!(m.total_variance > 0)) throw InputError("PCA input has zero variance (all items identical)");
}

// Covariance eigendecomposition in double; with a variance target, K is the smallest reaching it.
void FitExact(const MatrixRef& x, const PcaFitOptions& o, int k, PcaModel& m) {
  const Eigen::Index n = x.rows(), d = x.cols();
  Eigen::MatrixXd xd = x.cast<double>();
  xd.rowwise() -= m.mean.transpose();
  Eigen::MatrixXd cov = (xd.transpose() * xd) / double(n - 1);
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
}

// Randomized range finder (Halko et al.) with QR-stabilized subspace iterations.
void FitRandomized(const MatrixRef& x, const PcaFitOptions& o, int k, int threads, PcaModel& m) {
  const Eigen::Index n = x.rows(), d = x.cols();
  const Eigen::RowVectorXf mean_f = m.mean.transpose().cast<float>();
  SingleThreadedBlas blas_guard;  // our threads split the products (see visrec/util/blas.h)
  const Eigen::Index l = std::min<Eigen::Index>(d, k + o.oversample);
  Eigen::MatrixXf q;  // n x l, reused by every iteration
  MulCentred(x, mean_f, Gaussian(d, l, o.seed).cast<float>(), threads, q);
  Orthonormalize(q, threads);
  for (int it = 0; it < o.power_iterations; ++it) {
    Eigen::MatrixXf z = TMulCentred(x, mean_f, q, threads);
    Orthonormalize(z, threads);
    MulCentred(x, mean_f, z, threads, q);
    Orthonormalize(q, threads);
  }
  Eigen::MatrixXd bt = TMulCentred(x, mean_f, q, threads).cast<double>();  // d x l = (Q^T Xc)^T
  // Eigen of the small l x l Gram matrix gives the right singular vectors cheaply.
  Eigen::MatrixXd gram = bt.transpose() * bt;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(gram);
  Eigen::VectorXd s2 = es.eigenvalues().reverse().cwiseMax(0.0);
  Eigen::MatrixXd u = es.eigenvectors().rowwise().reverse();
  m.variance = s2.head(k) / double(n - 1);
  Eigen::MatrixXd v(k, d);
  for (int r = 0; r < k; ++r) {
    Eigen::VectorXd row = bt * u.col(r);
    double nr = row.norm();
    if (nr > 0)
      v.row(r) = (row / nr).transpose();
    else
      v.row(r).setZero();
  }
  m.components = v;
}

}  // namespace

PcaModel FitPca(const MatrixRef& x, const PcaFitOptions& o) {
  const Eigen::Index n = x.rows(), d = x.cols();
  if (n < 2) throw InputError("PCA needs at least 2 items, got " + std::to_string(n));
  const int k = CheckedDims(o, n, d);
  if (o.method == PcaMethod::kLda) throw UsageError("FitPca: LDA is FitLda's (it needs labels)");
  const int threads = ResolveThreads(o.threads);
  PcaModel m;
  m.whiten = o.whiten;
  MeanAndTotalVariance(x, threads, m);
  m.method = o.method;
  if (m.method == PcaMethod::kAuto)
    m.method = (o.variance_target > 0 || d <= 512 || k > d / 4) ? PcaMethod::kExact : PcaMethod::kRandomized;
  if (o.variance_target > 0) m.method = PcaMethod::kExact;
  if (m.method == PcaMethod::kExact)
    FitExact(x, o, k, m);
  else
    FitRandomized(x, o, k, threads, m);
  FixSigns(m.components);
  m.ratio = m.variance / m.total_variance;
  return m;
}

PcaModel FitLda(const MatrixRef& x, const std::vector<int>& labels, int dims) {
  const Eigen::Index d = x.cols();
  int classes = 0;
  for (int l : labels) classes = std::max(classes, l + 1);
  std::vector<Eigen::Index> count(size_t(classes), 0);
  for (int l : labels)
    if (l >= 0) ++count[size_t(l)];
  if (classes < 2) throw InputError("LDA needs at least 2 classes with items, got " + std::to_string(classes));
  for (int c = 0; c < classes; ++c)
    if (count[size_t(c)] < 2)
      throw InputError("LDA: class #" + std::to_string(c) + " has " + std::to_string(count[size_t(c)]) +
                       " item(s); every class needs at least 2 (drop or merge small classes)");
  Eigen::MatrixXd mu = Eigen::MatrixXd::Zero(classes, d);
  Eigen::VectorXd all = Eigen::VectorXd::Zero(d);
  Eigen::Index n = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    if (labels[size_t(i)] < 0) continue;
    if (!x.row(i).allFinite()) throw InputError("LDA input row " + std::to_string(i) + " contains NaN or Inf");
    mu.row(labels[size_t(i)]) += x.row(i).cast<double>();
    all += x.row(i).transpose().cast<double>();
    ++n;
  }
  for (int c = 0; c < classes; ++c) mu.row(c) /= double(count[size_t(c)]);
  all /= double(n);
  Eigen::MatrixXd sw = Eigen::MatrixXd::Zero(d, d), sb = Eigen::MatrixXd::Zero(d, d);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    if (labels[size_t(i)] < 0) continue;
    Eigen::VectorXd r = x.row(i).transpose().cast<double>() - mu.row(labels[size_t(i)]).transpose();
    sw.selfadjointView<Eigen::Lower>().rankUpdate(r);
  }
  for (int c = 0; c < classes; ++c) {
    Eigen::VectorXd r = mu.row(c).transpose() - all;
    sb.selfadjointView<Eigen::Lower>().rankUpdate(r, double(count[size_t(c)]));
  }
  sw = sw.selfadjointView<Eigen::Lower>();
  sb = sb.selfadjointView<Eigen::Lower>();
  const double ridge = 1e-3 * std::max(sw.trace() / double(d), 1e-12);
  sw.diagonal().array() += ridge;
  Eigen::GeneralizedSelfAdjointEigenSolver<Eigen::MatrixXd> es(sb, sw);
  if (es.info() != Eigen::Success) throw InputError("LDA eigenproblem did not converge");
  const int k = std::max(1, std::min(dims, classes - 1));
  PcaModel m;
  m.method = PcaMethod::kLda;
  m.mean = all;
  Eigen::MatrixXd vecs = es.eigenvectors().rowwise().reverse().leftCols(k);
  for (int c = 0; c < k; ++c) vecs.col(c).normalize();
  m.components = vecs.transpose();
  FixSigns(m.components);
  m.variance = es.eigenvalues().reverse().head(k).cwiseMax(0.0);
  m.total_variance = es.eigenvalues().cwiseMax(0.0).sum();
  m.ratio = m.variance / std::max(m.total_variance, 1e-300);
  return m;
}

MatrixF Project(const PcaModel& m, const MatrixRef& x) {
  if (x.cols() != m.mean.size())
    throw InputError("PCA model expects " + std::to_string(m.mean.size()) + "-d features, got " +
                     std::to_string(x.cols()));
  Eigen::MatrixXd xc = x.cast<double>();
  xc.rowwise() -= m.mean.transpose();
  Eigen::MatrixXd p = xc * m.components.transpose();
  if (m.whiten)
    for (Eigen::Index c = 0; c < p.cols(); ++c) p.col(c) /= std::sqrt(std::max(m.variance(c), 1e-12));
  return p.cast<float>();
}

double ExplainedShare(const PcaModel& m, const MatrixRef& x) {
  Eigen::MatrixXd xc = x.cast<double>();
  xc.rowwise() -= m.mean.transpose();
  double total = xc.squaredNorm();
  if (total <= 0) return 1.0;
  return (xc * m.components.transpose()).squaredNorm() / total;
}

}  // namespace visrec::reduce
