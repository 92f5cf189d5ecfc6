#include "visrec/core/weights_cache.h"

#include <cstdlib>

#include "visrec/core/errors.h"

namespace visrec {

namespace fs = std::filesystem;

const std::vector<PublishedWeights>& KnownWeights() {
  // torchvision's IMAGENET1K_V1 files (the ones its ResNet constructors downloaded before v0.13).
  static const std::vector<PublishedWeights> known{
      {"resnet18", "https://download.pytorch.org/models/resnet18-f37072fd.pth"},
      {"resnet34", "https://download.pytorch.org/models/resnet34-b627a593.pth"},
      {"resnet50", "https://download.pytorch.org/models/resnet50-0676ba61.pth"},
      {"resnet101", "https://download.pytorch.org/models/resnet101-63fe2227.pth"},
  };
  return known;
}

fs::path WeightsCacheDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return fs::path(xdg) / "visrec" / "weights";
  const char* home = std::getenv("HOME");
  if (!home || !*home)
    throw UsageError("neither XDG_CACHE_HOME nor HOME is set, so there is no weights cache; give --dir or a file path");
  return fs::path(home) / ".cache" / "visrec" / "weights";
}

std::string HashPrefixOfFileName(const std::string& file_name) {
  std::string stem = fs::path(file_name).stem().string();
  auto dash = stem.rfind('-');
  if (dash == std::string::npos) return "";
  std::string h = stem.substr(dash + 1);
  if (h.size() < 8 || h.size() > 64) return "";
  for (char c : h)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "";
  return h;
}

fs::path ResolveWeights(const fs::path& given, std::string* name_out) {
  if (name_out) name_out->clear();
  const std::string s = given.string();
  std::error_code ec;
  if (s.empty() || s.find('/') != std::string::npos || fs::exists(given, ec)) return given;
  for (const auto& w : KnownWeights()) {
    if (w.name != s) continue;
    if (name_out) *name_out = w.name;
    const fs::path cached = WeightsCacheDir() / fs::path(w.url).filename();
    if (!fs::is_regular_file(cached, ec))
      throw InputError("--weights " + s + ": not downloaded yet (looked for " + cached.string() +
                       "). Run `visrec weights fetch " + s + "` on a machine with internet, or give the path of a "
                       ".pth file you have");
    return cached;
  }
  return given;  // not a known name: the file reader will say it does not exist
}

}  // namespace visrec

namespace visrec {
std::filesystem::path WeightsByName(const std::filesystem::path& given, const std::string& model, const std::string& stage) {
  std::string known;
  // The model check comes first: no point in pointing at a download for the wrong network.
  for (const auto& w : KnownWeights())
    if (given == w.name && w.name != model && !fs::exists(given))
      throw UsageError(stage + ": --weights " + w.name + " are " + w.name + "'s, but --model is " + model +
                       "; add --model " + w.name);
  return ResolveWeights(given, &known);
}
}  // namespace visrec
