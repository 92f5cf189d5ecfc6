#include "visrec/report/tsne.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include <Eigen/Dense>
#include <spdlog/spdlog.h>

#include "visrec/artifact/stage.h"
#include "visrec/recommend/similarity.h"
#include "visrec/util/errors.h"
#include "visrec/util/options.h"
#include "visrec/util/parallel.h"

namespace visrec::report {

void TsneOptions::Validate() const {
  CheckRange("report: --perplexity", perplexity, 2, 200);
  if (iterations < 250 || iterations > 100000) throw UsageError("report: --map-iterations must be in [250, 100000]");
  if (exaggeration_iterations < 0 || exaggeration_iterations > iterations)
    throw UsageError("t-SNE: exaggeration iterations must be within the iterations");
  CheckRange("t-SNE: early exaggeration", early_exaggeration, 1, 100);
  CheckRange("t-SNE: theta", theta, 0, 1.5);
  CheckRange("t-SNE: learning rate", learning_rate, 0, 1e6);
}

double EffectivePerplexity(double asked, int64_t n) { return std::min(asked, std::max(1.0, double(n - 1) / 3.0)); }

std::vector<float> PcaPlane(const float* rows, int64_t n, int64_t d, double explained[2]) {
  std::vector<float> out(size_t(n) * 2, 0.f);
  explained[0] = explained[1] = 0;
  if (n == 0 || d == 0) return out;
  using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Mat x = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(rows, n, d)
              .cast<double>();
  x.rowwise() -= x.colwise().mean();
  const Eigen::MatrixXd cov = (x.transpose() * x) / double(std::max<int64_t>(1, n - 1));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
  const double total = std::max(1e-300, eig.eigenvalues().sum());
  for (int c = 0; c < 2 && c < d; ++c) {
    const Eigen::Index col = d - 1 - c;  // eigenvalues ascend
    Eigen::VectorXd v = eig.eigenvectors().col(col);
    Eigen::Index arg = 0;
    v.cwiseAbs().maxCoeff(&arg);
    if (v(arg) < 0) v = -v;
    explained[c] = std::max(0.0, eig.eigenvalues()(col)) / total;
    const Eigen::VectorXd p = x * v;
    for (int64_t i = 0; i < n; ++i) out[size_t(i) * 2 + size_t(c)] = float(p(Eigen::Index(i)));
  }
  return out;
}

namespace {

// Sparse symmetric joint probabilities in CSR form.
struct SparseP {
  std::vector<int64_t> start;
  std::vector<int32_t> col;
  std::vector<double> val;
};

SparseP JointProbabilities(const float* rows, int64_t n, int64_t d, double perplexity, int threads) {
  const int k = int(std::min<int64_t>(n - 1, int64_t(std::floor(3 * perplexity + 1))));
  const recommend::TopK knn = recommend::DenseCosineTopK(rows, n, d, k, int64_t(256) << 20, threads);
  // Conditional p(j|i) over each point's neighbours, its Gaussian width found by bisection so the
  // distribution's entropy is log(perplexity). Squared distances of unit vectors: 2 - 2 cos.
  std::vector<std::vector<std::pair<int32_t, double>>> cond(static_cast<size_t>(n));
  const double target = std::log(perplexity);
  ParallelFor(n, threads, [&](int64_t i) {
    const auto& nb = knn[size_t(i)];
    std::vector<double> dist(nb.size()), p(nb.size());
    for (size_t q = 0; q < nb.size(); ++q) dist[q] = std::max(0.0, 2.0 - 2.0 * double(nb[q].score));
    double beta = 1, lo = 0, hi = std::numeric_limits<double>::infinity();
    for (int step = 0; step < 100; ++step) {
      double sum = 0, weighted = 0;
      for (size_t q = 0; q < nb.size(); ++q) {
        p[q] = std::exp(-beta * (dist[q] - dist[0]));  // shifted by the nearest: no underflow to 0
        sum += p[q];
        weighted += p[q] * (dist[q] - dist[0]);
      }
      const double entropy = std::log(sum) + beta * weighted / sum;
      if (std::abs(entropy - target) < 1e-5) break;
      if (entropy > target) {
        lo = beta;
        beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = (beta + lo) / 2;
      }
    }
    double sum = 0;
    for (double x : p) sum += x;
    auto& out = cond[size_t(i)];
    for (size_t q = 0; q < nb.size(); ++q) out.push_back({nb[q].item, p[q] / sum});
  });
  // P = (P_cond + P_cond^T) / (2n), merged per row in column order.
  std::vector<std::vector<std::pair<int32_t, double>>> sym(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    for (const auto& [j, v] : cond[size_t(i)]) {
      sym[size_t(i)].push_back({j, v});
      sym[size_t(j)].push_back({int32_t(i), v});
    }
  SparseP P;
  P.start.push_back(0);
  for (int64_t i = 0; i < n; ++i) {
    auto& r = sym[size_t(i)];
    std::sort(r.begin(), r.end());
    for (size_t q = 0; q < r.size();) {
      const int32_t j = r[q].first;
      double v = 0;
      for (; q < r.size() && r[q].first == j; ++q) v += r[q].second;
      if (j == i) continue;
      P.col.push_back(j);
      P.val.push_back(v / (2.0 * double(n)));
    }
    P.start.push_back(int64_t(P.col.size()));
    std::vector<std::pair<int32_t, double>>().swap(r);
  }
  return P;
}

// A quadtree over the 2-D points with each cell's point count and centre of mass.
struct QuadTree {
  struct Cell {
    float cx, cy, half;    // square: centre, half width
    float mx = 0, my = 0;  // centre of mass
    int32_t count = 0;
    int32_t child = -1;  // index of the first of 4 children, -1 for a leaf
    int32_t point = -1;  // a leaf's single point (-1 when empty or holding duplicates)
  };
  std::vector<Cell> cells;

  void Build(const std::vector<float>& y, int64_t n) {
    float x0 = y[0], x1 = y[0], y0 = y[1], y1 = y[1];
    for (int64_t i = 0; i < n; ++i) {
      x0 = std::min(x0, y[size_t(2 * i)]);
      x1 = std::max(x1, y[size_t(2 * i)]);
      y0 = std::min(y0, y[size_t(2 * i + 1)]);
      y1 = std::max(y1, y[size_t(2 * i + 1)]);
    }
    cells.clear();
    cells.reserve(size_t(4 * n + 1));
    Cell root;
    root.cx = (x0 + x1) / 2;
    root.cy = (y0 + y1) / 2;
    root.half = std::max(x1 - x0, y1 - y0) / 2 * 1.0001f + 1e-12f;
    cells.push_back(root);
    for (int64_t i = 0; i < n; ++i) Insert(int32_t(i), y[size_t(2 * i)], y[size_t(2 * i + 1)], y);
  }

  void Insert(int32_t i, float px, float py, const std::vector<float>& y) {
    int32_t c = 0;
    for (int depth = 0;; ++depth) {
      Cell& cell = cells[size_t(c)];
      cell.mx = (cell.mx * float(cell.count) + px) / float(cell.count + 1);
      cell.my = (cell.my * float(cell.count) + py) / float(cell.count + 1);
      ++cell.count;
      if (cell.child < 0) {
        if (cell.count == 1) {
          cell.point = i;
          return;
        }
        if (depth > 40) {  // (near-)duplicate points: keep them together in one leaf
          cell.point = -1;
          return;
        }
        // Split: the resident point moves down, then this one continues.
        const int32_t resident = cell.point;
        const float cx = cell.cx, cy = cell.cy, h = cell.half / 2;
        const int32_t first = int32_t(cells.size());
        cells[size_t(c)].child = first;
        cells[size_t(c)].point = -1;
        for (int q = 0; q < 4; ++q) {
          Cell ch;
          ch.cx = cx + ((q & 1) ? h : -h);
          ch.cy = cy + ((q & 2) ? h : -h);
          ch.half = h;
          cells.push_back(ch);
        }
        if (resident >= 0) {
          const float rx = y[size_t(2 * resident)], ry = y[size_t(2 * resident + 1)];
          Cell& down = cells[size_t(first + Quadrant(cells[size_t(c)], rx, ry))];
          down.mx = rx;
          down.my = ry;
          down.count = 1;
          down.point = resident;
        }
      }
      c = cells[size_t(c)].child + Quadrant(cells[size_t(c)], px, py);
    }
  }
  static int Quadrant(const Cell& c, float px, float py) { return (px >= c.cx ? 1 : 0) + (py >= c.cy ? 2 : 0); }

  // Repulsion on point i: sum over cells of count * q^2 * (y_i - com), and sum of count * q with
  // q = 1 / (1 + |y_i - com|^2) (its contribution to the normaliser Z).
  void Repulse(int32_t i, float px, float py, float theta2, double* fx, double* fy, double* z,
               std::vector<int32_t>& stack) const {
    stack.clear();
    stack.push_back(0);
    double ax = 0, ay = 0, az = 0;
    while (!stack.empty()) {
      const Cell& c = cells[size_t(stack.back())];
      stack.pop_back();
      if (c.count == 0 || (c.child < 0 && c.point == i)) continue;
      const float dx = px - c.mx, dy = py - c.my;
      const float d2 = dx * dx + dy * dy;
      const float w = 2 * c.half;
      if (c.child < 0 || w * w < theta2 * d2) {
        const double q = 1.0 / (1.0 + double(d2));
        const double cq = double(c.count) * q;
        az += cq;
        ax += cq * q * dx;
        ay += cq * q * dy;
      } else {
        for (int q = 0; q < 4; ++q) stack.push_back(c.child + q);
      }
    }
    *fx = ax;
    *fy = ay;
    *z = az;
  }
};

}  // namespace

std::vector<float> Tsne(const float* rows, int64_t n, int64_t d, const TsneOptions& o) {
  o.Validate();
  if (n < 4) throw InputError("t-SNE needs at least 4 items (got " + std::to_string(n) + ")");
  const int threads = ResolveThreads(o.threads);
  const double perplexity = EffectivePerplexity(o.perplexity, n);
  if (perplexity < o.perplexity)
    spdlog::warn("t-SNE: {} items allow a perplexity of at most {:.2f}; using that instead of {}", n, perplexity,
                 o.perplexity);
  const SparseP P = JointProbabilities(rows, n, d, perplexity, threads);
  // PCA initialisation, scaled as scikit-learn does.
  double explained[2];
  std::vector<float> y = PcaPlane(rows, n, d, explained);
  {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += y[size_t(2 * i)];
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (y[size_t(2 * i)] - mean) * (y[size_t(2 * i)] - mean);
    const double sd = std::sqrt(var / double(n));
    const double scale = sd > 0 ? 1e-4 / sd : 1.0;
    for (auto& v : y) v = float(v * scale);
  }
  const double lr = o.learning_rate > 0 ? o.learning_rate : std::max(double(n) / o.early_exaggeration / 4.0, 50.0);
  std::vector<double> update(size_t(2 * n), 0.0), gains(size_t(2 * n), 1.0);
  std::vector<double> rep(static_cast<size_t>(2 * n)), zpart(static_cast<size_t>(n));
  QuadTree tree;
  const float theta2 = float(o.theta * o.theta);
  for (int it = 0; it < o.iterations; ++it) {
    const bool early = it < o.exaggeration_iterations;
    const double exaggeration = early ? o.early_exaggeration : 1.0;
    const double momentum = early ? 0.5 : 0.8;
    tree.Build(y, n);
    std::atomic<int64_t> next{0};
    ParallelFor(threads, threads, [&](int64_t) {
      std::vector<int32_t> stack;
      for (int64_t b; (b = next.fetch_add(256)) < n;)
        for (int64_t i = b; i < std::min(n, b + 256); ++i) {
          double fx, fy, z;
          tree.Repulse(int32_t(i), y[size_t(2 * i)], y[size_t(2 * i + 1)], theta2, &fx, &fy, &z, stack);
          rep[size_t(2 * i)] = fx;
          rep[size_t(2 * i + 1)] = fy;
          zpart[size_t(i)] = z;
        }
    });
    double Z = 0;
    for (double z : zpart) Z += z;  // in point order: the same sum whatever the threads
    Z = std::max(Z, 1e-300);
    ParallelFor((n + 255) / 256, threads, [&](int64_t b) {
      for (int64_t i = b * 256; i < std::min(n, (b + 1) * 256); ++i) {
        double ax = 0, ay = 0;
        const double yx = y[size_t(2 * i)], yy = y[size_t(2 * i + 1)];
        for (int64_t e = P.start[size_t(i)]; e < P.start[size_t(i) + 1]; ++e) {
          const int32_t j = P.col[size_t(e)];
          const double dx = yx - y[size_t(2 * j)], dy = yy - y[size_t(2 * j + 1)];
          const double q = 1.0 / (1.0 + dx * dx + dy * dy);
          ax += P.val[size_t(e)] * q * dx;
          ay += P.val[size_t(e)] * q * dy;
        }
        for (int a = 0; a < 2; ++a) {
          const size_t s = size_t(2 * i + a);
          const double g = 4.0 * (exaggeration * (a == 0 ? ax : ay) - rep[s] / Z);
          // Gains: grow where the step keeps its direction, shrink where it flips.
          gains[s] = (g > 0) != (update[s] > 0) ? gains[s] + 0.2 : std::max(gains[s] * 0.8, 0.01);
          update[s] = momentum * update[s] - lr * gains[s] * g;
        }
      }
    });
    for (size_t s = 0; s < y.size(); ++s) y[s] = float(double(y[s]) + update[s]);
  }
  // Centred on the origin.
  double mx = 0, my = 0;
  for (int64_t i = 0; i < n; ++i) {
    mx += y[size_t(2 * i)];
    my += y[size_t(2 * i + 1)];
  }
  for (int64_t i = 0; i < n; ++i) {
    y[size_t(2 * i)] -= float(mx / double(n));
    y[size_t(2 * i + 1)] -= float(my / double(n));
  }
  return y;
}

double MapNeighbourAgreement(const std::vector<float>& map2d, const std::vector<std::string>& labels, int k) {
  const int64_t n = int64_t(labels.size());
  std::vector<int64_t> labelled;
  for (int64_t i = 0; i < n; ++i)
    if (!labels[size_t(i)].empty()) labelled.push_back(i);
  if (labelled.size() < 2) return 0;
  const int kk = std::min<int>(k, int(labelled.size()) - 1);
  double total = 0;
  std::vector<std::pair<float, int64_t>> d;
  for (int64_t i : labelled) {
    d.clear();
    for (int64_t j : labelled) {
      if (j == i) continue;
      const float dx = map2d[size_t(2 * i)] - map2d[size_t(2 * j)],
                  dy = map2d[size_t(2 * i + 1)] - map2d[size_t(2 * j + 1)];
      d.push_back({dx * dx + dy * dy, j});
    }
    std::partial_sort(d.begin(), d.begin() + kk, d.end());
    int same = 0;
    for (int q = 0; q < kk; ++q) same += labels[size_t(d[size_t(q)].second)] == labels[size_t(i)];
    total += double(same) / double(kk);
  }
  return total / double(labelled.size());
}

}  // namespace visrec::report
