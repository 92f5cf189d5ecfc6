// Where and how the CNN stages (extract, finetune, query's photo path) compute: choices parsed once
// at the edge, recorded by name (util/choice.h). Here, below the artifact layer, because extract's
// contract records precision and CPU kernels.
#pragma once
#include <utility>

#include "visrec/util/choice.h"

namespace visrec {

enum class Device { kAuto, kCpu, kCuda };          // kAuto: CUDA when present, else the CPU
enum class Precision { kFp32, kBf16, kFp16 };      // kFp16 on CUDA only
enum class CpuKernels { kAuto, kOneDnn, kEager };  // see ExtractOptions::cpu_kernels

template <>
struct ChoiceNames<Device> {
  static constexpr std::pair<Device, const char*> kNames[] = {
      {Device::kAuto, "auto"}, {Device::kCpu, "cpu"}, {Device::kCuda, "cuda"}};
};
template <>
struct ChoiceNames<Precision> {
  static constexpr std::pair<Precision, const char*> kNames[] = {
      {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}, {Precision::kFp16, "fp16"}};
};
template <>
struct ChoiceNames<CpuKernels> {
  static constexpr std::pair<CpuKernels, const char*> kNames[] = {
      {CpuKernels::kAuto, "auto"}, {CpuKernels::kOneDnn, "onednn"}, {CpuKernels::kEager, "eager"}};
};

}  // namespace visrec
