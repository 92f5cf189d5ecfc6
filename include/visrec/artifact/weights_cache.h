// Published ImageNet weights of the built-in ResNets by name (`--weights resnet50`), found in the
// local cache that `visrec weights fetch` fills. No network code here (see visrec/weights/fetch.h),
// so the stages and the GPU-node binary resolve names without libcurl.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace visrec {

struct PublishedWeights {
  std::string name;  // resnet18 | resnet34 | resnet50 | resnet101
  std::string url;   // torchvision's file; its name ends in -<first hex digits of its SHA-256>.pth
};
const std::vector<PublishedWeights>& KnownWeights();

// ${XDG_CACHE_HOME:-$HOME/.cache}/visrec/weights
std::filesystem::path WeightsCacheDir();

// The SHA-256 prefix a torchvision-style file name carries ("resnet50-0676ba61.pth" -> "0676ba61"),
// empty when it carries none (at least 8 lowercase hex digits after the last '-').
std::string HashPrefixOfFileName(const std::string& file_name);

// The cache's files for a known name: NAME-<hex>.pth, sorted.
std::vector<std::filesystem::path> CachedWeights(const std::string& name);

// A --weights value: a known name (no path separator, no such file here) becomes its cached file;
// a name not fetched yet is an InputError saying what to run. Anything else is returned unchanged.
// *name_out gets the known name ("" otherwise) so callers can check it against --model.
std::filesystem::path ResolveWeights(const std::filesystem::path& given, std::string* name_out = nullptr);

}  // namespace visrec

namespace visrec {
// ResolveWeights for a stage running the built-in `model`: a known name must be that model's.
std::filesystem::path WeightsByName(const std::filesystem::path& given, const std::string& model,
                                    const std::string& stage);
}  // namespace visrec
