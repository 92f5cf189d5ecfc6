// PCA timing on a matrix from a .npy file (tools/bench/bench-reduce.sh runs it beside scikit-learn).
// Usage: pca_bench X.npy K METHOD POWER_ITERATIONS THREADS  -> prints "seconds explained_variance_sum"
#include <chrono>
#include <cstdio>
#include <string>

#include "visrec/artifact/npy.h"
#include "visrec/reduce/pca.h"
#include "visrec/util/allocator.h"

int main(int argc, char** argv) {
  visrec::TuneAllocatorForBatchWork();  // as in the visrec binary the stages run in
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s X.npy K METHOD POWER_ITERATIONS THREADS\n", argv[0]);
    return 2;
  }
  auto x = visrec::ReadNpy<float>(argv[1]);
  Eigen::Map<visrec::reduce::MatrixF> xm(x.data.data(), x.rows(), x.cols());
  visrec::reduce::PcaFitOptions o;
  o.dims = std::stoi(argv[2]);
  const auto method = visrec::FindChoice<visrec::reduce::PcaMethod>(argv[3]);
  if (!method) {
    std::fprintf(stderr, "pca_bench: method must be auto, exact or randomized\n");
    return 2;
  }
  o.method = *method;
  o.power_iterations = std::stoi(argv[4]);
  o.threads = std::stoi(argv[5]);
  auto t0 = std::chrono::steady_clock::now();
  auto m = visrec::reduce::FitPca(xm, o);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.3f %.6f\n", s, m.ratio.sum());
  return 0;
}
