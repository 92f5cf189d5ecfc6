// Facts about the LibTorch this visrec is built against, for callers without LibTorch headers.
#pragma once
#include <string>

namespace visrec::model {

std::string TorchVersion();
bool CudaCompiledIn();
bool CudaAvailableNow();

}  // namespace visrec::model
