// `visrec preprocess`: catalog photos -> fixed-size uint8 RGB pixels in shards, with failures listed.
#pragma once
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "visrec/artifact/inputs.h"
#include "visrec/artifact/model_input.h"
#include "visrec/artifact/stage.h"
#include "visrec/artifact/stage_versions.h"
#include "visrec/util/choice.h"

namespace visrec::preprocess {

enum class FitMode { kCrop, kLetterbox };  // resize + centre crop | the whole product, padded square
enum class Trim { kOff, kAuto };           // kAuto crops near-uniform margins first

constexpr int kStageVersion = stage_version::kPreprocess;

struct PreprocessOptions {
  std::filesystem::path catalog;  // required
  int resize = 256;               // shorter side before the centre crop (mode "crop")
  int crop = 224;                 // model input size C; output is C x C x 3
  FitMode mode = FitMode::kCrop;
  // kAuto: the padded content box then survives the centre crop. Default off: on the sample catalog
  // with the bundled SqueezeNet, same-category precision of visual neighbours was higher with off
  // (docs/stages.md, preprocess).
  Trim trim = Trim::kOff;
  int trim_tolerance = 24;                       // 0-255: max channel difference still counted as border
  double trim_padding = 0.04;                    // fraction of the content box kept around it
  std::array<int, 3> background{255, 255, 255};  // RGB for alpha compositing and letterbox
  // Normalization recorded here, applied once when `extract` converts pixels to tensors.
  std::array<double, 3> mean{0.485, 0.456, 0.406};
  std::array<double, 3> std{0.229, 0.224, 0.225};
  // The model that will read the pixels declares the input it was trained with (resize, crop,
  // mean, std: a TorchScript sidecar's "input", torchvision's for the built-in ResNets). Fields
  // marked in `follow_model` take the declared value; the others are used as set, with a warning
  // when they contradict the declaration. The CLI marks every field whose flag was not given, so
  // there the model's declaration is the default. Where each value came from is recorded in the
  // manifest's extra.input_source.
  std::filesystem::path model_file;  // TorchScript model whose sidecar JSON declares the input
  std::string model;                 // built-in ResNet name; empty = no declaration
  // mean/std follow by default (they are the model's business, applied in extract); resize/crop
  // are used as set unless marked.
  struct FollowModel {
    bool resize = false, crop = false, mean = true, std = true;
  } follow_model;
  int64_t max_pixels = 100000000;       // decompression-bomb guard (from the header)
  int64_t max_file_mb = 64;             // larger photo files fail before a byte is read
  std::string reduced_decode = "auto";  // "auto": JPEG DCT downscale when the source is >= 4x the need
  int shard_size = 1024;                // images per pixels-NNNNN.npy
  double max_failed_fraction = 0.1;     // more failed photos than this -> exit code 7, no artifact
  BadRowPolicy bad_rows = BadRowPolicy::kSkip;
  void Validate() const;
};

StageResult Run(const PreprocessOptions& options, const RunContext& context);

using visrec::ModelInput;
using visrec::ReadModelInput;
// options with the follow_model fields taken from the model's declaration; `source` (may be null)
// gets, per field, "option" (set by the caller or a flag), "default" (nothing declared) or the
// declaration's source. Warns on a set value that contradicts the declaration.
PreprocessOptions ResolveModelInput(const PreprocessOptions& options, json* source);

// The options an artifact was made with, read back from its manifest's params (so a query
// preprocesses a new photo exactly like the batch did). ArtifactError naming a missing parameter.
PreprocessOptions OptionsFromManifest(const Manifest& manifest);
// One photo's bytes -> crop x crop x 3 uint8 RGB (row-major HWC), as the stage does it.
// Throws InputError with the reason (e.g. "truncated JPEG ...") when the photo is unusable.
std::vector<uint8_t> PreprocessPhoto(const std::string& bytes, const PreprocessOptions& options);

std::string OpenCvVersion();

}  // namespace visrec::preprocess

namespace visrec {
template <>
struct ChoiceNames<preprocess::FitMode> {
  static constexpr std::pair<preprocess::FitMode, const char*> kNames[] = {
      {preprocess::FitMode::kCrop, "crop"}, {preprocess::FitMode::kLetterbox, "letterbox"}};
};
template <>
struct ChoiceNames<preprocess::Trim> {
  static constexpr std::pair<preprocess::Trim, const char*> kNames[] = {{preprocess::Trim::kOff, "off"},
                                                                        {preprocess::Trim::kAuto, "auto"}};
};
}  // namespace visrec
