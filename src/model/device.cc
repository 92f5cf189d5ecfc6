#include "visrec/model/device.h"

#include <ATen/Config.h>
#include <torch/torch.h>

#include "visrec/core/errors.h"
#include "visrec/model/resnet.h"

namespace visrec::model {

std::string TorchVersion() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}
bool CudaCompiledIn() { return torch::cuda::is_available() || at::hasCUDA(); }
bool CudaAvailableNow() { return torch::cuda::is_available(); }
bool OneDnnAvailable() { return AT_MKLDNN_ENABLED() != 0; }

torch::Device ChooseDevice(const std::string& want) {
  if (want == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (want == "cuda" && !cuda)
    throw DeviceError(std::string("--device cuda requested, but CUDA is not available: ") +
                      (CudaCompiledIn() ? "no usable GPU/driver was found" :
                       "this visrec is built against a CPU-only LibTorch (Debian's libtorch-dev)") +
                      "; use --device cpu or auto, or build with a CUDA LibTorch (tools/gpu-check.sh)");
  return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

}  // namespace visrec::model
