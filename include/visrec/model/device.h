// Facts about the LibTorch this visrec is built against, for callers without LibTorch headers.
#pragma once
#include <exception>
#include <string>

#include "visrec/util/compute.h"
#include "visrec/util/errors.h"

namespace visrec::model {

std::string TorchVersion();
bool CudaCompiledIn();
bool CudaAvailableNow();
// True when this LibTorch has oneDNN (MKL-DNN) CPU kernels (the fused CPU path needs them).
bool OneDnnAvailable();

// --precision bf16 on the CPU needs AVX-512 (BW, VL, DQ) for oneDNN's bf16 kernels; without it the
// eager path crawls (under 1 img/s) and the oneDNN one dies. DeviceError (exit 6) naming the
// missing features, decided from visrec's EffectiveCpuFeatures() (maskable for tests).
void RequireCpuBf16(const std::string& stage, bool on_cpu, Precision precision);

// Runs `body`, turning LibTorch's own exceptions (c10::Error) into a DeviceError that names the
// stage: LibTorch messages span screens and end in C++ frames; exit 1 is reserved for visrec bugs.
void RethrowTorchError(const std::string& stage, const std::exception& e);
template <class F>
auto GuardTorch(const std::string& stage, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const visrec::Error&) {
    throw;
  } catch (const std::exception& e) {
    RethrowTorchError(stage, e);
    throw;  // not reached: RethrowTorchError always throws
  }
}

}  // namespace visrec::model
