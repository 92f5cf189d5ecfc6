#include "visrec/artifact/model_input.h"

#include <cmath>

#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr std::array<double, 3> kImageNetMean{0.485, 0.456, 0.406};
constexpr std::array<double, 3> kImageNetStd{0.229, 0.224, 0.225};
constexpr int64_t kMaxSidecarBytes = 1 << 20;
}  // namespace

std::optional<ModelInput> ReadModelInput(const fs::path& model_file, const std::string& model) {
  if (model_file.empty()) {
    if (model.empty()) return std::nullopt;
    // torchvision's ImageNet recipe for its ResNets: Resize(256), CenterCrop(224), ImageNet mean/std.
    return ModelInput{"built-in " + model + " (torchvision)", 256, 224, kImageNetMean, kImageNetStd, nlohmann::json()};
  }
  fs::path sidecar = model_file;
  sidecar.replace_extension(".json");
  std::error_code ec;
  if (!fs::exists(sidecar, ec)) return std::nullopt;
  ModelInput m;
  m.source = "model sidecar " + sidecar.string();
  const std::string where = "model sidecar '" + sidecar.string() + "'";
  json sc;
  try {
    sc = json::parse(ReadRegularFile(sidecar, kMaxSidecarBytes));
  } catch (const json::exception& e) {
    throw InputError(where + " is not valid JSON (" + std::string(e.what()) + "); fix or remove it");
  }
  if (!sc.is_object()) throw InputError(where + " must hold a JSON object ({\"input\": {...}}); fix or remove it");
  m.raw = sc;
  if (!sc.contains("input")) return m;
  const json& in = sc["input"];
  if (!in.is_object()) throw InputError(where + ": \"input\" must be an object with resize, crop, mean, std");
  auto int_field = [&](const char* key, int lo, int hi) -> std::optional<int> {
    if (!in.contains(key)) return std::nullopt;
    const json& v = in[key];
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
      throw InputError(where + ": input." + key + " must be an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "], found " + v.dump().substr(0, 60));
    return v.get<int>();
  };
  // Same ranges as the --mean/--std flags.
  auto triple_field = [&](const char* key, bool positive) -> std::optional<std::array<double, 3>> {
    if (!in.contains(key)) return std::nullopt;
    const json& v = in[key];
    bool ok = v.is_array() && v.size() == 3;
    std::array<double, 3> out{};
    for (size_t i = 0; ok && i < 3; ++i) {
      ok = v[i].is_number() && std::isfinite(v[i].get<double>());
      if (!ok) break;
      out[i] = v[i].get<double>();
      ok = positive ? out[i] > 0 && out[i] <= 1e6 : std::abs(out[i]) <= 1e6;
    }
    if (!ok)
      throw InputError(where + ": input." + key + " must be three numbers " +
                       (positive ? "in (0, 1e6]" : "in [-1e6, 1e6]") + ", found " + v.dump().substr(0, 60));
    return out;
  };
  m.resize = int_field("resize", 16, 8192);
  m.crop = int_field("crop", 16, 2048);
  // The older sidecar form gives only the tensor shape [3, C, C].
  if (!m.crop && in.contains("shape")) {
    const json& shape = in["shape"];
    if (!shape.is_array() || shape.size() != 3 || !shape[1].is_number_integer() || shape[1].get<int64_t>() < 16 ||
        shape[1].get<int64_t>() > 2048 || shape[1] != shape[2])
      throw InputError(where + ": input.shape must be [3, C, C] with C in [16, 2048], found " +
                       shape.dump().substr(0, 60));
    m.crop = shape[1].get<int>();
  }
  if (m.resize && m.crop && *m.resize < *m.crop)
    throw InputError(where + ": input.resize " + std::to_string(*m.resize) + " is below input.crop " +
                     std::to_string(*m.crop) + " (the crop is taken from the resized image)");
  m.mean = triple_field("mean", false);
  m.std = triple_field("std", true);
  return m;
}

}  // namespace visrec
