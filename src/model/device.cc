#include "visrec/model/device.h"

#include <ATen/Config.h>
#include <torch/torch.h>

#include "visrec/model/resnet.h"
#include "visrec/util/errors.h"
#include "visrec/util/version.h"

namespace visrec::model {

std::string TorchVersion() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}
bool CudaCompiledIn() { return torch::cuda::is_available() || at::hasCUDA(); }
bool CudaAvailableNow() { return torch::cuda::is_available(); }
bool OneDnnAvailable() { return AT_MKLDNN_ENABLED() != 0; }

void RequireCpuBf16(const std::string& stage, bool on_cpu, Precision precision) {
  if (!on_cpu || precision != Precision::kBf16) return;
  std::string missing;
  const CpuFeatures f = EffectiveCpuFeatures();
  if (CpuCanRunBf16(f, &missing)) return;
  throw DeviceError(stage + ": --precision bf16 on the CPU needs AVX-512 (missing here: " + missing +
                    "; this CPU: " + CpuFeaturesText(f) + "). Use --precision fp32 on this machine");
}

void RethrowTorchError(const std::string& stage, const std::exception& e) {
  if (dynamic_cast<const c10::Error*>(&e) == nullptr) throw;  // not LibTorch's: let the caller see it as it is
  std::string msg = dynamic_cast<const c10::Error&>(e).what_without_backtrace();
  if (const size_t nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  throw DeviceError(stage + ": LibTorch failed: " + msg + " (check --device, --precision and --cpu-kernels)");
}

torch::Device ChooseDevice(Device want) {
  if (want == Device::kCpu) return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (want == Device::kCuda && !cuda)
    throw DeviceError(std::string("--device cuda requested, but CUDA is not available: ") +
                      (CudaCompiledIn() ? "no usable GPU/driver was found"
                                        : "this visrec is built against a CPU-only LibTorch (Debian's libtorch-dev)") +
                      "; use --device cpu or auto, or build with a CUDA LibTorch (tools/gpu-check.sh)");
  return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

}  // namespace visrec::model
