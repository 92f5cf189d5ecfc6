// `visrec-gpu`: the GPU-node build (-DVISREC_GPU_NODE=ON). A GPU node only turns preprocessed
// artifacts into features (and fine-tunes), so this binary holds extract, finetune, verify and
// version, with the same flags, defaults and exit codes as `visrec` (the same commands, from
// command.h); it needs LibTorch and header-only spdlog/fmt/nlohmann-json/CLI11, nothing else
// (see tools/gpu-check.sh).
#include "command.h"
#include "visrec/util/version.h"

namespace visrec::cli {
namespace {

class GpuVersionCommand : public Command {
 public:
  void Bind(CLI::App*) override {}
  int Run() override {
    std::cout << "visrec-gpu " << VisrecVersion() << " (git " << GitSha() << ")\n"
              << "libtorch " << model::TorchVersion() << "\n"
              << "cuda compiled in: " << (model::CudaCompiledIn() ? "yes" : "no") << "\n"
              << "cuda available now: " << (model::CudaAvailableNow() ? "yes" : "no") << "\n"
              << "cpu: " << CpuFeaturesText(DetectCpuFeatures()) << "\n";
    return 0;
  }
};

}  // namespace
}  // namespace visrec::cli

int main(int argc, char** argv) {
  using namespace visrec::cli;
  return RunCommandLine(
      "visrec-gpu: the extract and finetune stages of visrec for GPU nodes. See docs/operations.md, 'GPU nodes'.",
      {Entry<ExtractCommand>("extract", "CNN features per item (LibTorch)"),
       Entry<FinetuneCommand>("finetune", "train the ResNet on the catalog's classes (weights for extract)"),
       Entry<VerifyCommand>("verify", "recompute digests along an artifact's lineage"),
       Entry<GpuVersionCommand>("version", "versions, CUDA, CPU features")},
      argc, argv);
}
