#include "visrec/artifact/weights_cache.h"

#include <algorithm>
#include <cstdlib>

#include "visrec/util/errors.h"

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
  if (xdg && *xdg == '/') return fs::path(xdg) / "visrec" / "weights";  // relative values are ignored (XDG spec)
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

std::vector<fs::path> CachedWeights(const std::string& name) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(WeightsCacheDir(), ec)) {
    const std::string f = e.path().filename().string();
    const std::string hex = HashPrefixOfFileName(f);
    if (!hex.empty() && f == name + "-" + hex + ".pth" && e.is_regular_file(ec)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

fs::path ResolveWeights(const fs::path& given, std::string* name_out) {
  if (name_out) name_out->clear();
  const std::string s = given.string();
  std::error_code ec;
  if (s.empty() || s.find('/') != std::string::npos || fs::exists(given, ec)) return given;
  for (const auto& w : KnownWeights()) {
    if (w.name != s) continue;
    if (name_out) *name_out = w.name;
    std::vector<fs::path> cached = CachedWeights(w.name);
    if (cached.empty())
      throw InputError("--weights " + s + ": not downloaded yet (nothing like " + fs::path(w.url).filename().string() +
                       " in " + WeightsCacheDir().string() + "). Run `visrec weights fetch " + s +
                       "` on a machine with internet, or give the path of a .pth file you have");
    // The published file first; another NAME-<hex>.pth fetched from a mirror only when it is alone.
    for (const auto& c : cached)
      if (c.filename() == fs::path(w.url).filename()) return c;
    if (cached.size() > 1)
      throw UsageError("--weights " + s + ": several files in " + WeightsCacheDir().string() + " (" +
                       cached[0].filename().string() + ", " + cached[1].filename().string() +
                       ", ...); give the path of the one you mean");
    return cached[0];
  }
  return given;  // not a known name: the file reader will say it does not exist
}

}  // namespace visrec

namespace visrec {
std::filesystem::path WeightsByName(const std::filesystem::path& given, const std::string& model,
                                    const std::string& stage) {
  std::string known;
  // The model check comes first: no point in pointing at a download for the wrong network.
  for (const auto& w : KnownWeights())
    if (given == w.name && w.name != model && !fs::exists(given))
      throw UsageError(stage + ": --weights " + w.name + " are " + w.name + "'s, but --model is " + model +
                       "; add --model " + w.name);
  return ResolveWeights(given, &known);
}
}  // namespace visrec
