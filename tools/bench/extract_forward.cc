// Forward-only throughput of a built-in ResNet on random tensors: the ceiling the extract stage is
// measured against (tools/bench/bench-extract.sh, tools/gpu-check.sh).
// Usage: extract_forward MODEL BATCH fp32|bf16|fp16 THREADS SECONDS [cl|nchw|fused] [cpu|cuda]
// (fused: the CPU oneDNN path of visrec/model/fused.h, the extract stage's CPU default)
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "visrec/model/device.h"
#include "visrec/model/fused.h"
#include "visrec/model/resnet.h"
#include "visrec/util/allocator.h"

int main(int argc, char** argv) {
  visrec::TuneAllocatorForBatchWork();  // same allocator settings as the stages run with
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s MODEL BATCH fp32|bf16|fp16 THREADS SECONDS [cl|nchw|fused] [cpu|cuda]\n", argv[0]);
    return 2;
  }
  const std::string model = argv[1];
  const auto precision = visrec::FindChoice<visrec::Precision>(argv[3]);
  const auto device_choice = visrec::FindChoice<visrec::Device>(argc < 8 ? "cpu" : argv[7]);
  if (!precision || !device_choice) {
    std::fprintf(stderr, "extract_forward: precision must be %s and device %s\n",
                 visrec::ChoiceText<visrec::Precision>().c_str(), visrec::ChoiceText<visrec::Device>().c_str());
    return 2;
  }
  const int batch = std::stoi(argv[2]), threads = std::stoi(argv[4]);
  const double seconds = std::stod(argv[5]);
  const std::string layout = argc < 7 ? "cl" : argv[6];
  const bool fused = layout == "fused", channels_last = layout != "nchw";
  const torch::Device device = visrec::model::ChooseDevice(*device_choice);
  try {
    visrec::model::RequireCpuBf16("extract_forward", device.is_cpu(), *precision);  // exit 6, as the stage
  } catch (const visrec::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return int(e.code());
  }
  at::set_num_threads(threads);
  visrec::model::ResNet net(model);
  visrec::model::InitializeResNet(net, 0);
  net->eval();
  const auto dtype = visrec::model::TorchDtype(*precision);
  std::unique_ptr<visrec::model::FusedResNet> fused_net;
  if (fused)
    fused_net = std::make_unique<visrec::model::FusedResNet>(net, dtype);
  else
    net->to(device, dtype);
  if (channels_last && !fused) {
    torch::NoGradGuard g;
    for (auto& p : net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  torch::InferenceMode guard;
  auto x = torch::randn({batch, 3, 224, 224}).to(device, fused ? torch::kFloat : dtype);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  auto run = [&] { return fused ? fused_net->features(x) : net->features(x); };
  // Warm-up (oneDNN primitive creation, cuDNN algorithm choice); reading a value back waits for
  // the device, so the clock below measures finished work on CUDA too.
  for (int i = 0; i < 3; ++i) run().sum().item<float>();
  int64_t images = 0;
  auto t0 = std::chrono::steady_clock::now();
  double el = 0;
  while (el < seconds) {
    run().sum().item<float>();
    images += batch;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::printf("%.2f\n", images / el);
  return 0;
}
