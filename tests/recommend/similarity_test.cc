#include "visrec/recommend/similarity.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include <random>

#include "visrec/util/errors.h"
#include "visrec/util/version.h"
#include "../test_util.h"

namespace visrec::recommend {
namespace {

// Brute force reference: full similarity rows, same ordering rule.
TopK Reference(const std::vector<std::vector<double>>& sim, int k, const std::vector<bool>& valid) {
  TopK out(sim.size());
  for (size_t i = 0; i < sim.size(); ++i) {
    std::vector<Neighbor> c;
    for (size_t j = 0; j < sim.size(); ++j)
      if (j != i && valid[j] && sim[i][j] != 0) c.push_back({int32_t(j), float(sim[i][j])});
    SelectTopK(c, k);
    out[i] = c;
  }
  return out;
}

using testing::CpuLevel;
using testing::kCpuLevels;

void ExpectSame(const TopK& a, const TopK& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << "item " << i;
    for (size_t r = 0; r < a[i].size(); ++r) {
      EXPECT_NEAR(a[i][r].score, b[i][r].score, tol) << "item " << i << " rank " << r;
      // Different neighbours are fine only when scores tie within tolerance.
      if (a[i][r].item != b[i][r].item) {
        EXPECT_NEAR(a[i][r].score, b[i][r].score, tol);
      }
    }
  }
}

// Brute-force item-item cosine of a dense user x item matrix, under the same shrink and support rules.
TopK CfReference(const std::vector<std::vector<double>>& r, int items, int k, double shrink, int min_support) {
  std::vector<std::vector<double>> sim(size_t(items), std::vector<double>(size_t(items), 0));
  for (int i = 0; i < items; ++i)
    for (int j = 0; j < items; ++j) {
      double dot = 0, ni = 0, nj = 0;
      int support = 0;
      for (const auto& u : r) {
        dot += u[size_t(i)] * u[size_t(j)];
        ni += u[size_t(i)] * u[size_t(i)];
        nj += u[size_t(j)] * u[size_t(j)];
        support += u[size_t(i)] > 0 && u[size_t(j)] > 0;
      }
      if (ni > 0 && nj > 0 && support >= min_support)
        sim[size_t(i)][size_t(j)] = float(dot / (std::sqrt(ni) * std::sqrt(nj) + shrink));
    }
  return Reference(sim, k, std::vector<bool>(size_t(items), true));
}

// A random user x item matrix: each cell stored with probability 1/density, its value from `value`.
template <class ValueFn>
SparseRows RandomInteractions(std::mt19937& g, int users, int items, int density, ValueFn value,
                              std::vector<std::vector<double>>& dense) {
  dense.assign(size_t(users), std::vector<double>(size_t(items), 0));
  SparseRows m;
  m.n_items = items;
  for (int u = 0; u < users; ++u) {
    std::vector<std::pair<int32_t, float>> e;
    for (int i = 0; i < items; ++i)
      if (g() % unsigned(density) == 0) {
        const float w = value();
        dense[size_t(u)][size_t(i)] = w;
        e.push_back({i, w});
      }
    m.AddRow(e);
  }
  return m;
}

TEST(Similarity, SparseCosineEqualsBruteForce) {
  std::mt19937 g(3);
  for (int trial = 0; trial < 20; ++trial) {
    const int users = 1 + int(g() % 30), items = 2 + int(g() % 25), k = 1 + int(g() % 6);
    const double shrink = trial % 2 ? 0.0 : 2.5;
    const int min_support = 1 + trial % 3;
    std::vector<std::vector<double>> r;
    // Integer weights make ties common.
    SparseRows m = RandomInteractions(
        g, users, items, 4, [&] { return float(1 + g() % 3); }, r);
    for (int threads : {1, 3}) {
      TopK got = SparseCosineTopK(m, k, shrink, min_support, threads);
      ExpectSame(got, CfReference(r, items, k, shrink, min_support), 1e-6f);
    }
  }
}

// The kernel specializes on its input: equal values everywhere (implicit feedback, no value loads),
// positive values (no support counts), and the general case (zero weights, min_support > 1). Each
// is checked here on catalogs large enough that the top-k selection cuts its candidate buffer many
// times, with the many exact ties of 0/1 data.
TEST(Similarity, SparseCosineEveryKernelEqualsBruteForceOnLargerCatalogs) {
  std::mt19937 g(11);
  struct Case {
    const char* name;
    float (*value)(std::mt19937&);
    int min_support;
  };
  const Case cases[] = {
      {"implicit 1.0", [](std::mt19937&) { return 1.f; }, 1},
      {"uniform 2.5", [](std::mt19937&) { return 2.5f; }, 1},
      {"uniform, min support 2", [](std::mt19937&) { return 1.f; }, 2},
      {"positive weights", [](std::mt19937& r) { return float(1 + r() % 4) * 0.5f; }, 1},
      {"zero weights present", [](std::mt19937& r) { return float(r() % 3); }, 1},
  };
  for (const Case& c : cases)
    for (int trial = 0; trial < 2; ++trial) {
      SCOPED_TRACE(std::string(c.name) + " trial " + std::to_string(trial));
      const int users = 120 + int(g() % 80), items = 150 + int(g() % 100), k = 1 + int(g() % 4);
      const double shrink = trial == 0 ? 0.0 : 1.5;
      std::vector<std::vector<double>> r;
      SparseRows m = RandomInteractions(
          g, users, items, 6, [&] { return c.value(g); }, r);
      const TopK ref = CfReference(r, items, k, shrink, c.min_support);
      size_t full = 0;
      for (const auto& row : ref) full += row.size() == size_t(k);
      ASSERT_GT(full, size_t(items) / 2) << "the case should fill most top-k lists";
      for (int threads : {1, 3}) ExpectSame(SparseCosineTopK(m, k, shrink, c.min_support, threads), ref, 1e-6f);
    }
}

// All pairwise dot products of the n rows of x (n x d), in double: the dense brute force.
std::vector<std::vector<double>> DotProducts(const std::vector<float>& x, int64_t n, int64_t d) {
  std::vector<std::vector<double>> dot(size_t(n), std::vector<double>(size_t(n), 0));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < d; ++c) dot[size_t(i)][size_t(j)] += double(x[size_t(i * d + c)]) * x[size_t(j * d + c)];
  return dot;
}

TEST(Similarity, DenseCosineEqualsBruteForceWithZerosAndTies) {
  std::mt19937 g(5);
  for (int trial = 0; trial < 10; ++trial) {
    const int n = 2 + int(g() % 40), d = 1 + int(g() % 6), k = 1 + int(g() % 8);
    std::vector<float> x(size_t(n * d));
    std::vector<bool> valid(size_t(n), true);
    for (int i = 0; i < n; ++i) {
      double nrm = 0;
      for (int c = 0; c < d; ++c) {
        x[size_t(i * d + c)] = float(int(g() % 5) - 2);  // small integers: duplicates and ties
        nrm += double(x[size_t(i * d + c)]) * x[size_t(i * d + c)];
      }
      if (nrm == 0) {
        valid[size_t(i)] = false;
        continue;
      }
      for (int c = 0; c < d; ++c) x[size_t(i * d + c)] = float(x[size_t(i * d + c)] / std::sqrt(nrm));
    }
    // Zero rows get no neighbours; an exact zero between valid rows stays a (tiny) candidate.
    std::vector<std::vector<double>> sim = DotProducts(x, n, d);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        double& s = sim[size_t(i)][size_t(j)];
        s = valid[size_t(i)] && valid[size_t(j)] ? (s == 0 ? 1e-30 : s) : 0;
      }
    TopK ref = Reference(sim, k, valid);
    for (auto& row : ref)
      for (auto& nb : row)
        if (std::abs(nb.score) < 1e-20) nb.score = 0;
    // A tiny budget forces many blocks; results must not change.
    for (const char* level : kCpuLevels) {
      CpuLevel cpu(level);
      for (int64_t budget : {int64_t(64), int64_t(1) << 20})
        for (DenseKernel kernel : {DenseKernel::kAuto, DenseKernel::kOneSided, DenseKernel::kBlas})
          ExpectSame(DenseCosineTopK(x.data(), n, d, k, budget, 2, kernel), ref, 1e-5f);
    }
  }
}

// n x d Gaussian rows scaled to unit length, except zero rows (i % zero[0] == zero[1]) and exact
// copies of the row `back` places earlier (i % copy[0] == copy[1]), whose neighbours tie exactly.
// valid[i]: row i is not zero.
std::vector<float> RowsWithZerosAndTies(std::mt19937& g, int64_t n, int64_t d, std::array<int64_t, 2> zero,
                                        std::array<int64_t, 2> copy, int64_t back, std::vector<bool>& valid) {
  std::normal_distribution<float> gauss;
  std::vector<float> x(size_t(n * d));
  valid.assign(size_t(n), true);
  for (int64_t i = 0; i < n; ++i) {
    if (i % zero[0] == zero[1]) {
      valid[size_t(i)] = false;
      continue;
    }
    if (i % copy[0] == copy[1]) {
      std::copy_n(x.begin() + (i - back) * d, d, x.begin() + i * d);
      valid[size_t(i)] = valid[size_t(i - back)];
      continue;
    }
    double nrm = 0;
    for (int64_t c = 0; c < d; ++c) nrm += std::pow(x[size_t(i * d + c)] = gauss(g), 2);
    for (int64_t c = 0; c < d; ++c) x[size_t(i * d + c)] = float(x[size_t(i * d + c)] / std::sqrt(nrm));
  }
  return x;
}

// Sizes that cross the fused kernels' row blocks (128/256), column panels (512), 8-row groups and
// 16-column tiles at odd places, an odd dimension, zero rows and duplicated rows (exact ties), with
// 1 and 3 threads: every kernel equals a double-precision brute force.
TEST(Similarity, DenseKernelsEqualBruteForceAcrossBlocks) {
  std::mt19937 g(11);
  const int64_t n = 1037, d = 13;
  const int k = 9;
  std::vector<bool> valid;
  const std::vector<float> x = RowsWithZerosAndTies(g, n, d, {97, 5}, {61, 7}, 3, valid);
  const TopK ref = Reference(DotProducts(x, n, d), k, valid);
  for (const char* level : kCpuLevels) {
    SCOPED_TRACE(std::string("cpu level '") + level + "'");
    CpuLevel cpu(level);
    for (int threads : {1, 3})
      for (DenseKernel kernel : {DenseKernel::kAuto, DenseKernel::kOneSided, DenseKernel::kBlas})
        ExpectSame(DenseCosineTopK(x.data(), n, d, k, int64_t(64) << 20, threads, kernel), ref, 1e-5f);
  }
  // The fused kernels are deterministic: the same neighbours and bit-identical scores whatever
  // the threads.
  const TopK a = DenseCosineTopK(x.data(), n, d, k, int64_t(64) << 20, 1);
  const TopK b = DenseCosineTopK(x.data(), n, d, k, int64_t(64) << 20, 3);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(a[size_t(i)].size(), b[size_t(i)].size());
    for (size_t r = 0; r < a[size_t(i)].size(); ++r) {
      EXPECT_EQ(a[size_t(i)][r].item, b[size_t(i)][r].item);
      EXPECT_EQ(a[size_t(i)][r].score, b[size_t(i)][r].score);
    }
  }
}

// `recommend --shard` computes some items' lists only: those lists must be the full run's, neighbour
// for neighbour and bit for bit (the merge is compared byte for byte with an unsharded run), on
// every kernel, and the other items' lists stay empty.
void ExpectSubsetOfFull(const TopK& part, const TopK& full, const std::vector<char>& wanted) {
  ASSERT_EQ(part.size(), full.size());
  size_t filled = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    if (!wanted[i]) {
      EXPECT_TRUE(part[i].empty()) << "row " << i << " was not asked for";
      continue;
    }
    filled += !full[i].empty();
    ASSERT_EQ(part[i].size(), full[i].size()) << "row " << i;
    for (size_t r = 0; r < full[i].size(); ++r) {
      EXPECT_EQ(part[i][r].item, full[i][r].item) << "row " << i << " rank " << r;
      EXPECT_EQ(part[i][r].score, full[i][r].score) << "row " << i << " rank " << r;
    }
  }
  EXPECT_GT(filled, size_t(0)) << "the subset should hold rows with neighbours";
}

TEST(Similarity, ASubsetOfRowsGetsTheFullRunsListsBitForBit) {
  std::mt19937 g(5);
  const int64_t n = 613, d = 11;
  const int k = 7;
  std::vector<bool> valid;
  const std::vector<float> x = RowsWithZerosAndTies(g, n, d, {89, 3}, {53, 9}, 2, valid);
  for (const char* level : kCpuLevels) {
    SCOPED_TRACE(std::string("cpu level '") + level + "'");
    CpuLevel cpu(level);
    const TopK full = DenseCosineTopK(x.data(), n, d, k, int64_t(64) << 20, 2);  // symmetric fused kernel, or BLAS
    for (int shard = 0; shard < 3; ++shard) {
      std::vector<char> wanted(size_t(n), 0);
      std::vector<int64_t> query;
      for (int64_t i = 0; i < n; ++i)
        if ((i * 7919 + shard) % 3 == 0) {  // scattered rows, as an id hash scatters them
          wanted[size_t(i)] = 1;
          query.push_back(i);
        }
      for (int threads : {1, 3})
        ExpectSubsetOfFull(DenseCosineTopKRows(x.data(), n, d, k, &query, int64_t(64) << 20, threads), full, wanted);
    }
  }
  std::vector<std::vector<double>> r;
  for (float value : {1.f, 0.f}) {  // implicit (uniform) data, and general weights with min support 2
    SCOPED_TRACE(value == 1.f ? "uniform" : "weights");
    const SparseRows m = RandomInteractions(
        g, 150, 200, 6, [&] { return value == 1.f ? 1.f : float(1 + g() % 3); }, r);
    const int min_support = value == 1.f ? 1 : 2;
    const TopK full = SparseCosineTopK(m, 5, 1.5, min_support, 2);
    std::vector<char> wanted(200, 0);
    for (size_t i = 0; i < wanted.size(); ++i) wanted[i] = char(i % 4 == 1);
    ExpectSubsetOfFull(SparseCosineTopK(m, 5, 1.5, min_support, 3, &wanted), full, wanted);
    std::vector<char> wrong_size(7, 1);
    EXPECT_THROW(SparseCosineTopK(m, 5, 1.5, min_support, 1, &wrong_size), std::invalid_argument);
  }
}

// The kernel is chosen by visrec's own CPU detection: masking AVX-512 away selects the AVX2 kernel
// (where the build has it), masking everything selects BLAS. Both fused kernels run one
// multiply-add chain per score, so their neighbours and scores are bit-identical.
TEST(Similarity, FusedKernelsAreChosenByCpuLevelAndAgreeBitForBit) {
  const CpuFeatures cpu = DetectCpuFeatures();
  {
    CpuLevel baseline("baseline");
    EXPECT_EQ(DenseKernelInUse(), "blas");
  }
#if defined(__AVX2__) && defined(__FMA__)
  if (!cpu.avx2 || !cpu.fma) GTEST_SKIP() << "this CPU has no AVX2+FMA: " << CpuFeaturesText(cpu);
  std::mt19937 g(23);
  std::normal_distribution<float> gauss;
  const int64_t n = 700, d = 37;
  const int k = 12;
  std::vector<float> x(size_t(n * d));
  for (int64_t i = 0; i < n; ++i) {
    double nrm = 0;
    for (int64_t c = 0; c < d; ++c) nrm += std::pow(x[size_t(i * d + c)] = gauss(g), 2);
    for (int64_t c = 0; c < d; ++c) x[size_t(i * d + c)] = float(x[size_t(i * d + c)] / std::sqrt(nrm));
  }
  const int64_t budget = int64_t(64) << 20;
  TopK native_sym, native_one;
  {
    CpuLevel as_detected("");
    native_sym = DenseCosineTopK(x.data(), n, d, k, budget, 2, DenseKernel::kAuto);
    native_one = DenseCosineTopK(x.data(), n, d, k, budget, 2, DenseKernel::kOneSided);
  }
  CpuLevel avx2("avx2");
  EXPECT_EQ(DenseKernelInUse(), "fused-avx2");
  const TopK avx2_sym = DenseCosineTopK(x.data(), n, d, k, budget, 2, DenseKernel::kAuto);
  const TopK avx2_one = DenseCosineTopK(x.data(), n, d, k, budget, 3, DenseKernel::kOneSided);
  for (const TopK* t : std::initializer_list<const TopK*>{&native_one, &avx2_sym, &avx2_one})
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ((*t)[size_t(i)].size(), size_t(k));
      ASSERT_EQ(native_sym[size_t(i)].size(), size_t(k));
      for (int r = 0; r < k; ++r) {
        EXPECT_EQ((*t)[size_t(i)][size_t(r)].item, native_sym[size_t(i)][size_t(r)].item);
        EXPECT_EQ((*t)[size_t(i)][size_t(r)].score, native_sym[size_t(i)][size_t(r)].score);
      }
    }
#else
  GTEST_SKIP() << "this build (-march=" << BuildIsa() << ") has no AVX2 fused kernel";
#endif
}

TEST(Similarity, TfidfMatchesHandComputedCosine) {
  SparseRows m = TfidfMatrix({"red shirt", "red mug", "Blue SHIRT!", ""});
  TopK t = SparseCosineTopK(m, 5, 0.0, 1, 1);
  // idf(red)=idf(shirt)=ln(5/3)+1, idf(mug)=idf(blue)=ln(5/2)+1
  const double a = std::log(5.0 / 3) + 1, b = std::log(5.0 / 2) + 1;
  const double sim01 = (a * a) / (std::sqrt(2 * a * a) * std::sqrt(a * a + b * b));
  ASSERT_EQ(t[0].size(), 2u);
  EXPECT_NEAR(t[0][0].score, sim01, 1e-6);  // red shirt ~ red mug and ~ blue shirt equally
  EXPECT_NEAR(t[0][1].score, sim01, 1e-6);
  EXPECT_EQ(t[0][0].item, 1);  // tie broken by index
  EXPECT_TRUE(t[3].empty());   // no text: no neighbours
}

std::vector<float> UnitRows(int64_t n, int64_t d, uint64_t seed, int zero_every = 0) {
  std::mt19937 g(static_cast<uint32_t>(seed));
  std::normal_distribution<float> gauss;
  std::vector<float> x(size_t(n * d));
  for (int64_t i = 0; i < n; ++i) {
    if (zero_every && i % zero_every == 3) continue;  // some all-zero rows
    double nr = 0;
    for (int64_t c = 0; c < d; ++c) {
      x[size_t(i * d + c)] = gauss(g);
      nr += double(x[size_t(i * d + c)]) * x[size_t(i * d + c)];
    }
    for (int64_t c = 0; c < d; ++c) x[size_t(i * d + c)] /= float(std::sqrt(nr));
  }
  return x;
}

TEST(Similarity, HnswFindsTheExactNeighboursAndKeepsTheContract) {
  if (!HaveFaiss()) {
    EXPECT_THROW(HnswCosineTopK(nullptr, 0, 0, 1, {}, 1), NotImplementedError);
    GTEST_SKIP() << "built without Faiss";
  }
  const int64_t n = 3000, d = 12;
  const int k = 10;
  auto x = UnitRows(n, d, 5, 97);
  TopK approx = HnswCosineTopK(x.data(), n, d, k, HnswOptions{}, 2);
  TopK exact = DenseCosineTopK(x.data(), n, d, k, int64_t(64) << 20, 2);
  ASSERT_EQ(approx.size(), size_t(n));
  int64_t same = 0, total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool zero = i % 97 == 3;
    if (zero) {
      EXPECT_TRUE(approx[size_t(i)].empty()) << "zero rows get no neighbours";
      continue;
    }
    ASSERT_EQ(approx[size_t(i)].size(), size_t(k));
    std::set<int32_t> e;
    for (auto nb : exact[size_t(i)]) e.insert(nb.item);
    for (size_t r = 0; r < approx[size_t(i)].size(); ++r) {
      const Neighbor nb = approx[size_t(i)][r];
      EXPECT_NE(nb.item, i) << "no self";
      EXPECT_NE(nb.item % 97, 3) << "zero rows are nobody's neighbour";
      if (r > 0) {
        EXPECT_GE(approx[size_t(i)][r - 1].score, nb.score);
      }
      same += e.count(nb.item);
    }
    total += k;
  }
  EXPECT_GE(double(same) / double(total), 0.95);
  // The recall check agrees: close to 1 for HNSW, exactly 1 for exact search.
  RecallCheck rc = RecallAgainstExact(approx, x.data(), n, d, k, 500, 1);
  EXPECT_GT(rc.rows, 480);  // 500 sampled, the few zero rows among them skipped
  EXPECT_LE(rc.rows, 500);
  EXPECT_GE(rc.recall, 0.95);
  EXPECT_DOUBLE_EQ(RecallAgainstExact(exact, x.data(), n, d, k, 500, 1).recall, 1.0);
}

TEST(Similarity, RecallCheckSeesWrongNeighbours) {
  const int64_t n = 400, d = 8;
  const int k = 5;
  auto x = UnitRows(n, d, 6);
  TopK wrong(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < k; ++r) wrong[size_t(i)].push_back({int32_t((i + 1 + r * 37) % n), 0.f});  // arbitrary items
  EXPECT_LT(RecallAgainstExact(wrong, x.data(), n, d, k, 100, 2).recall, 0.3);
}

}  // namespace
}  // namespace visrec::recommend
