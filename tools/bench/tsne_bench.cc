// t-SNE timing on unit vectors from a .npy file (tools/bench/bench-tsne.sh runs it beside scikit-learn).
// Usage: tsne_bench X.npy OUT.npy THREADS [PERPLEXITY=30]  -> prints "seconds", writes the n x 2 map
#include <chrono>
#include <cstdio>
#include <string>

#include "visrec/artifact/npy.h"
#include "visrec/report/tsne.h"
#include "visrec/util/allocator.h"

int main(int argc, char** argv) {
  visrec::TuneAllocatorForBatchWork();
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s X.npy OUT.npy THREADS [PERPLEXITY]\n", argv[0]);
    return 2;
  }
  auto x = visrec::ReadNpy<float>(argv[1]);
  visrec::report::TsneOptions o;
  o.threads = std::stoi(argv[3]);
  if (argc > 4) o.perplexity = std::stod(argv[4]);
  auto t0 = std::chrono::steady_clock::now();
  const auto y = visrec::report::Tsne(x.data.data(), x.rows(), x.cols(), o);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  visrec::WriteNpy(argv[2], visrec::DType::kF32, {x.rows(), 2}, y.data());
  std::printf("%.3f\n", s);
  return 0;
}
