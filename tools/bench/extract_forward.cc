// Forward-only throughput of a built-in ResNet on random tensors: the ceiling the extract stage is
// measured against (tools/bench-extract.sh). Usage: extract_forward MODEL BATCH PRECISION THREADS SECONDS [cl|nchw]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "visrec/model/resnet.h"

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s MODEL BATCH fp32|bf16 THREADS SECONDS\n", argv[0]);
    return 2;
  }
  const std::string model = argv[1], precision = argv[3];
  const int batch = std::stoi(argv[2]), threads = std::stoi(argv[4]);
  const double seconds = std::stod(argv[5]);
  const bool channels_last = argc < 7 || std::string(argv[6]) != "nchw";
  at::set_num_threads(threads);
  visrec::model::ResNet net(model);
  visrec::model::InitializeResNet(net, 0);
  net->eval();
  const auto dtype = precision == "bf16" ? torch::kBFloat16 : torch::kFloat;
  net->to(dtype);
  if (channels_last) {
    torch::NoGradGuard g;
    for (auto& p : net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  torch::InferenceMode guard;
  auto x = torch::randn({batch, 3, 224, 224}).to(dtype);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  for (int i = 0; i < 2; ++i) net->features(x);  // warm-up (oneDNN primitive creation)
  int64_t images = 0;
  auto t0 = std::chrono::steady_clock::now();
  double el = 0;
  while (el < seconds) {
    net->features(x);
    images += batch;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::printf("%.2f\n", images / el);
  return 0;
}
