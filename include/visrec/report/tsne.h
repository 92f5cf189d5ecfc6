// Two-dimensional catalog maps of the reduced vectors: Barnes-Hut t-SNE, and the PCA plane.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace visrec::report {

struct TsneOptions {
  double perplexity = 30;  // effective neighbours per point (clamped to (n - 1) / 3)
  int iterations = 1000;   // gradient steps in all
  int exaggeration_iterations = 250;
  double early_exaggeration = 12;  // P is multiplied by this for the first steps (clusters form apart)
  double theta = 0.5;              // Barnes-Hut: a cell of width w at distance r counts as one point when w / r < theta
  double learning_rate = 0;        // 0: max(n / early_exaggeration / 4, 50)
  int threads = 0;                 // 0 = all cores; the result does not depend on it
  void Validate() const;
};

// The perplexity t-SNE uses for n points: the asked one, at most (n - 1) / 3 (k = 3 x perplexity
// neighbours must exist).
double EffectivePerplexity(double asked, int64_t n);

// rows: n x d unit vectors (cosine geometry, as recommend's visual similarity). Returns n x 2,
// row-major. PCA initialisation (scaled to a standard deviation of 1e-4), exact k-nearest
// neighbours (k = 3 x perplexity), per-point perplexity calibration, symmetrised sparse P, then
// gradient descent with momentum and gains. Deterministic: no random numbers at all.
std::vector<float> Tsne(const float* rows, int64_t n, int64_t d, const TsneOptions& options);

// The rows projected on their top two principal components (centred); explained[0..1] receive
// each component's share of the total variance. Signs: each component's largest-magnitude loading
// is positive.
std::vector<float> PcaPlane(const float* rows, int64_t n, int64_t d, double explained[2]);

// Mean share, over points, of their k nearest neighbours in the 2-D map that carry the same label
// (points with an empty label are skipped as queries and as neighbours): how well a map keeps classes together.
double MapNeighbourAgreement(const std::vector<float>& map2d, const std::vector<std::string>& labels, int k);

}  // namespace visrec::report
