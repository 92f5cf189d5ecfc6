// Facts about the LibTorch this visrec is built against, for callers without LibTorch headers.
#pragma once
#include <string>

namespace visrec::model {

std::string TorchVersion();
bool CudaCompiledIn();
bool CudaAvailableNow();
// True when this LibTorch has oneDNN (MKL-DNN) CPU kernels (the fused CPU path needs them).
bool OneDnnAvailable();

}  // namespace visrec::model
