// PCA with Eigen: exact (covariance eigendecomposition) and randomized (range finder + power
// iterations). Sign convention: each component's largest-magnitude entry is positive.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "visrec/util/choice.h"

namespace visrec::reduce {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Inputs are taken by reference to any row-major float matrix (a MatrixF or a Map over an npy
// buffer) so that a multi-GB feature matrix is never copied to call these.
using MatrixRef = Eigen::Ref<const MatrixF>;

// kAuto: exact for small inputs or a variance target, else randomized. kLda is the reduce stage's
// (FitLda on catalog labels), never FitPca's.
enum class PcaMethod { kAuto, kExact, kRandomized, kLda };

struct PcaModel {
  Eigen::VectorXd mean;        // d
  Eigen::MatrixXd components;  // k x d, orthonormal rows
  Eigen::VectorXd variance;    // k, explained variance (eigenvalues, ddof = 1)
  Eigen::VectorXd ratio;       // k, variance / total variance
  double total_variance = 0;   // sum of per-column variances (ddof = 1)
  bool whiten = false;
  // The method that fitted: exact | randomized | lda (kAuto: not recorded, in applied fits made
  // before 2026-12-03).
  PcaMethod method = PcaMethod::kExact;
};

struct PcaFitOptions {
  int dims = 64;               // K; ignored when variance_target > 0
  double variance_target = 0;  // e.g. 0.95: smallest K reaching it (uses the exact method)
  PcaMethod method = PcaMethod::kAuto;
  bool whiten = false;
  int oversample = 10;       // randomized: extra columns in the range finder (as scikit-learn)
  int power_iterations = 4;  // randomized: subspace iterations (QR between them)
  uint64_t seed = 0;
  int threads = 0;  // 0 = all cores (the big products are split by rows)
};

// X: n x d, float. Throws visrec::InputError/UsageError on unusable input (named rows, K > D, ...).
PcaModel FitPca(const MatrixRef& x, const PcaFitOptions& options);
MatrixF Project(const PcaModel& model, const MatrixRef& x);  // n x k (whitened when the model is)
// Fisher LDA: directions maximizing between-class over within-class scatter, solved as the
// generalized eigenproblem Sb v = l (Sw + r I) v with a small ridge r (features usually outnumber
// items per class). labels[i] < 0 = unlabelled row: projected later, not used for the fit.
// Returns at most (classes - 1) components in the same model form (variance = eigenvalues).
PcaModel FitLda(const MatrixRef& x, const std::vector<int>& labels, int dims);

// Share of the (old-mean-centred) variance of X that the model's basis captures.
double ExplainedShare(const PcaModel& model, const MatrixRef& x);

}  // namespace visrec::reduce

namespace visrec {
template <>
struct ChoiceNames<reduce::PcaMethod> {
  static constexpr std::pair<reduce::PcaMethod, const char*> kNames[] = {{reduce::PcaMethod::kAuto, "auto"},
                                                                         {reduce::PcaMethod::kExact, "exact"},
                                                                         {reduce::PcaMethod::kRandomized, "randomized"},
                                                                         {reduce::PcaMethod::kLda, "lda"}};
};
}  // namespace visrec
