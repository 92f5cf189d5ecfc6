// Timing of visrec's exact similarity kernels on data from .npy files (tools/bench/bench-recommend.sh).
//   knn_bench dense X.npy K THREADS OUT.npy [auto|onesided|blas]   X: float32 n x d, L2-normalized rows
//   knn_bench hnsw X.npy K THREADS OUT.npy [M EF_CONSTRUCTION EF_SEARCH]   approximate (Faiss HNSW)
//   knn_bench cf PAIRS.npy N_ITEMS K THREADS OUT.npy [REPEAT]   PAIRS: int32 nnz x 2 (user, item), sorted by user;
//                                           the median of REPEAT runs (default 1)
//   knn_bench info                          the build's -march and the dense kernel kAuto runs here
// Prints seconds and writes the top-K neighbour indices (int32 n x K, -1 padded).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "visrec/artifact/npy.h"
#include "visrec/recommend/similarity.h"
#include "visrec/util/allocator.h"
#include "visrec/util/version.h"

using namespace visrec;
using namespace visrec::recommend;

static void Write(const TopK& t, int k, const char* path) {
  std::vector<int32_t> out(t.size() * size_t(k), -1);
  for (size_t i = 0; i < t.size(); ++i)
    for (size_t r = 0; r < t[i].size() && int(r) < k; ++r) out[i * size_t(k) + r] = t[i][r].item;
  WriteNpy(path, DType::kI32, {int64_t(t.size()), k}, out.data());
}

int main(int argc, char** argv) {
  TuneAllocatorForBatchWork();  // as in the visrec binary the stages run in
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "info") {
    std::printf("-march=%s, dense kernel %s\n", BuildIsa().c_str(), DenseKernelInUse().c_str());
    return 0;
  }
  if (mode == "dense" && argc >= 6) {
    auto x = ReadNpy<float>(argv[2]);
    int k = std::stoi(argv[3]), threads = std::stoi(argv[4]);
    auto t0 = std::chrono::steady_clock::now();
    const std::string kern = argc > 6 ? argv[6] : "auto";
    const DenseKernel kernel = kern == "blas"       ? DenseKernel::kBlas
                               : kern == "onesided" ? DenseKernel::kOneSided
                                                    : DenseKernel::kAuto;
    TopK t = DenseCosineTopK(x.data.data(), x.rows(), x.cols(), k, int64_t(512) << 20, threads, kernel);
    std::printf("%.3f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    Write(t, k, argv[5]);
    return 0;
  }
  if (mode == "hnsw" && argc >= 6) {
    auto x = ReadNpy<float>(argv[2]);
    int k = std::stoi(argv[3]), threads = std::stoi(argv[4]);
    auto t0 = std::chrono::steady_clock::now();
    HnswOptions h;
    if (argc >= 9) {
      h.m = std::stoi(argv[6]);
      h.ef_construction = std::stoi(argv[7]);
      h.ef_search = std::stoi(argv[8]);
    }
    TopK t = HnswCosineTopK(x.data.data(), x.rows(), x.cols(), k, h, threads);
    std::printf("%.3f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    Write(t, k, argv[5]);
    return 0;
  }
  if (mode == "cf" && argc >= 7) {
    auto p = ReadNpy<int32_t>(argv[2]);
    int n_items = std::stoi(argv[3]), k = std::stoi(argv[4]), threads = std::stoi(argv[5]);
    const int repeat = argc > 7 ? std::max(1, std::stoi(argv[7])) : 1;
    // CF takes a tenth of a second here: one run is mostly noise (page faults, the hypervisor), so
    // the median of `repeat` whole runs (CSR built each time) is printed; the reference does the same.
    std::vector<double> seconds;
    TopK t;
    for (int run = 0; run < repeat; ++run) {
      auto t0 = std::chrono::steady_clock::now();
      SparseRows m;
      m.n_items = n_items;
      m.Reserve(p.rows(), p.rows());  // at most one row per interaction
      std::vector<std::pair<int32_t, float>> row;
      for (int64_t i = 0; i < p.rows(); ++i) {
        if (i > 0 && p.data[size_t(2 * i)] != p.data[size_t(2 * i - 2)]) {
          m.AddRow(row);
          row.clear();
        }
        row.push_back({p.data[size_t(2 * i + 1)], 1.f});
      }
      if (!row.empty()) m.AddRow(row);
      auto t1 = std::chrono::steady_clock::now();
      t = SparseCosineTopK(m, k, 0.0, 1, threads);
      std::fprintf(stderr, "build %.3f s, similarity %.3f s\n", std::chrono::duration<double>(t1 - t0).count(),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(seconds.begin(), seconds.end());
    std::printf("%.3f\n", seconds[seconds.size() / 2]);
    Write(t, k, argv[6]);
    return 0;
  }
  std::fprintf(stderr, "usage: knn_bench dense X.npy K THREADS OUT.npy | cf PAIRS.npy N_ITEMS K THREADS OUT.npy\n");
  return 2;
}
