// `visrec preprocess`: catalog photos -> fixed-size uint8 RGB pixels in shards, with failures listed.
#pragma once
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "visrec/core/inputs.h"
#include "visrec/core/stage.h"

namespace visrec::preprocess {

constexpr int kStageVersion = 1;

struct PreprocessOptions {
  std::filesystem::path catalog;         // required
  int resize = 256;                      // shorter side before the centre crop (mode "crop")
  int crop = 224;                        // model input size C; output is C x C x 3
  std::string mode = "crop";             // "crop" (resize+centre crop) | "letterbox" (whole product)
  std::string trim = "auto";             // "auto" crops near-uniform margins | "off"
  int trim_tolerance = 24;               // 0-255: max channel difference still counted as border
  double trim_padding = 0.04;            // fraction of the content box kept around it
  std::array<int, 3> background{255, 255, 255};  // RGB for alpha compositing and letterbox
  // Normalization recorded here, applied once when `extract` converts pixels to tensors.
  std::array<double, 3> mean{0.485, 0.456, 0.406};
  std::array<double, 3> std{0.229, 0.224, 0.225};
  int64_t max_pixels = 100000000;        // decompression-bomb guard (from the header)
  int64_t max_file_mb = 64;              // larger photo files fail before a byte is read
  std::string reduced_decode = "auto";   // "auto": JPEG DCT downscale when the source is >= 4x the need
  int shard_size = 1024;                 // images per pixels-NNNNN.npy
  double max_failed_fraction = 0.1;      // more failed photos than this -> exit code 7, no artifact
  BadRowPolicy bad_rows = BadRowPolicy::kSkip;
  void Validate() const;
};

StageResult Run(const PreprocessOptions& options, const RunContext& context);

// The options an artifact was made with, read back from its manifest's params (so a query
// preprocesses a new photo exactly like the batch did).
PreprocessOptions OptionsFromParams(const json& params);
// One photo's bytes -> crop x crop x 3 uint8 RGB (row-major HWC), as the stage does it.
// Throws InputError with the reason (e.g. "truncated JPEG ...") when the photo is unusable.
std::vector<uint8_t> PreprocessPhoto(const std::string& bytes, const PreprocessOptions& options);

std::string OpenCvVersion();

}  // namespace visrec::preprocess
