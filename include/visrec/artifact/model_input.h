// What a model declares about the input it was trained with: a TorchScript model's sidecar JSON
// (MODEL.json beside MODEL.pt: {"input": {"resize", "crop", "mean", "std"}}) or torchvision's recipe
// for the built-in ResNets. Read by preprocess (its defaults) and extract (its normalization).
#pragma once
#include <array>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace visrec {

struct ModelInput {
  std::string source;  // "model sidecar PATH" or "built-in resnet50 (torchvision)"
  std::optional<int> resize, crop;
  std::optional<std::array<double, 3>> mean, std;
  nlohmann::json raw;  // the sidecar as read (empty for built-ins), recorded in manifests
};

// The declaration of model_file's sidecar (PATH with .json), or of the built-in `model`; nullopt when
// there is none. A sidecar that is not a JSON object, or declares a value of the wrong type or out
// of range (resize/crop in [16, 8192]/[16, 2048], resize >= crop, |mean| <= 1e6, 0 < std <= 1e6),
// is an InputError naming the file and the field.
std::optional<ModelInput> ReadModelInput(const std::filesystem::path& model_file, const std::string& model);

}  // namespace visrec
