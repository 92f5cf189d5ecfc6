// The input a model declares (resize, crop, normalization) as the default of the preprocess stage.
#include <cmath>

#include <spdlog/spdlog.h>

#include "visrec/preprocess/preprocess.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec::preprocess {

namespace {

std::string Triple(const std::array<double, 3>& v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : " ") + json(x).dump();
  return s;
}
}  // namespace

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
        spdlog::warn(
            "preprocess: {} {} contradicts the {} which declares {}; the option wins, so the model "
            "sees inputs unlike those it was trained on",
            flag, show(field), decl->source, show(*declared));
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
  if (o.follow_model.resize && !(decl && decl->resize) && o.mode == FitMode::kCrop && o.resize < o.crop) {
    o.resize = int(std::lround(o.crop * 256.0 / 224.0));
    src["resize"] = "derived from crop (256/224)";
  }
  if (source) *source = src;
  return o;
}

}  // namespace visrec::preprocess
