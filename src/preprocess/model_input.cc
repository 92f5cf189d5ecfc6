// The input a model declares (resize, crop, normalization) as the default of the preprocess stage.
#include <cmath>

#include <spdlog/spdlog.h>

#include "visrec/core/errors.h"
#include "visrec/core/fs.h"
#include "visrec/preprocess/preprocess.h"

namespace visrec::preprocess {

namespace {
constexpr std::array<double, 3> kImageNetMean{0.485, 0.456, 0.406};
constexpr std::array<double, 3> kImageNetStd{0.229, 0.224, 0.225};
constexpr int64_t kMaxSidecarBytes = 1 << 20;

std::string Triple(const std::array<double, 3>& v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : " ") + json(x).dump();
  return s;
}
}  // namespace

std::optional<ModelInput> ReadModelInput(const fs::path& model_file, const std::string& model) {
  if (model_file.empty()) {
    if (model.empty()) return std::nullopt;
    // torchvision's ImageNet recipe for its ResNets: Resize(256), CenterCrop(224), ImageNet mean/std.
    return ModelInput{"built-in " + model + " (torchvision)", 256, 224, kImageNetMean, kImageNetStd};
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
  if (!sc.is_object() || !sc.contains("input")) return m;
  const json& in = sc["input"];
  auto int_field = [&](const char* key, int lo, int hi) -> std::optional<int> {
    if (!in.contains(key)) return std::nullopt;
    const json& v = in[key];
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
      throw InputError(where + ": input." + key + " must be an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "], found " + v.dump().substr(0, 60));
    return v.get<int>();
  };
  auto triple_field = [&](const char* key, bool positive) -> std::optional<std::array<double, 3>> {
    if (!in.contains(key)) return std::nullopt;
    const json& v = in[key];
    bool ok = v.is_array() && v.size() == 3;
    std::array<double, 3> out{};
    for (size_t i = 0; ok && i < 3; ++i) {
      ok = v[i].is_number() && std::isfinite(v[i].get<double>()) && (!positive || v[i].get<double>() > 0);
      if (ok) out[i] = v[i].get<double>();
    }
    if (!ok)
      throw InputError(where + ": input." + key + " must be three finite numbers" + (positive ? " above 0" : "") +
                       ", found " + v.dump().substr(0, 60));
    return out;
  };
  m.resize = int_field("resize", 16, 8192);
  m.crop = int_field("crop", 16, 2048);
  // The older sidecar form gives only the tensor shape [3, C, C].
  if (!m.crop && in.contains("shape") && in["shape"].is_array() && in["shape"].size() == 3 && in["shape"][1].is_number_integer())
    m.crop = in["shape"][1].get<int>();
  m.mean = triple_field("mean", false);
  m.std = triple_field("std", true);
  return m;
}

PreprocessOptions ResolveModelInput(const PreprocessOptions& options, json* source) {
  PreprocessOptions o = options;
  std::optional<ModelInput> decl = ReadModelInput(o.model_file, o.model);
  json src = json::object();
  auto follow = [&](const char* name, const char* flag, bool follows, auto& field, const auto& declared, auto show) {
    if (follows && declared) {
      field = *declared;
      src[name] = decl->source;
    } else if (follows) {
      src[name] = "default";
    } else {
      src[name] = "option";
      if (declared && *declared != field)
        spdlog::warn("preprocess: {} {} contradicts the {} which declares {}; the option wins, so the model "
                     "sees inputs unlike those it was trained on", flag, show(field), decl->source, show(*declared));
    }
  };
  auto show_int = [](int v) { return std::to_string(v); };
  using Opt3 = std::optional<std::array<double, 3>>;
  const std::optional<int> no_int;
  const Opt3 no3;
  follow("resize", "--resize", o.follow_model.resize, o.resize, decl ? decl->resize : no_int, show_int);
  follow("crop", "--crop", o.follow_model.crop, o.crop, decl ? decl->crop : no_int, show_int);
  follow("mean", "--mean", o.follow_model.mean, o.mean, decl ? decl->mean : no3, Triple);
  follow("std", "--std", o.follow_model.std, o.std, decl ? decl->std : no3, Triple);
  // A model wanting a larger crop than the default resize: keep torchvision's 256/224 ratio.
  if (o.follow_model.resize && !(decl && decl->resize) && o.mode == "crop" && o.resize < o.crop) {
    o.resize = int(std::lround(o.crop * 256.0 / 224.0));
    src["resize"] = "derived from crop (256/224)";
  }
  if (source) *source = src;
  return o;
}

}  // namespace visrec::preprocess
