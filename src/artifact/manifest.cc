#include "visrec/artifact/manifest.h"

#include "visrec/util/errors.h"

namespace visrec {
namespace {

[[noreturn]] void Unusable(const std::filesystem::path& dir, const std::string& why) {
  throw ArtifactError("artifact '" + dir.string() + "' is unusable: manifest " + why +
                      "; rerun its stage with --force to rebuild it");
}

std::string RequiredString(const json& entry, const char* field, const std::filesystem::path& dir, const char* list) {
  auto it = entry.find(field);
  if (it == entry.end() || !it->is_string())
    Unusable(dir, std::string("'") + list + "' has an entry without a '" + field + "' string");
  return it->get<std::string>();
}

}  // namespace

Manifest Manifest::Parse(const json& raw, const std::filesystem::path& dir) {
  Manifest m;
  m.dir = dir;
  if (!raw.is_object()) Unusable(dir, "is not a JSON object");
  m.schema_version = raw.at("schema_version").get<int>();
  m.stage = raw.at("stage").get<std::string>();
  m.stage_version = raw.at("stage_version").get<int>();
  if (!raw.at("key").is_string()) Unusable(dir, "'key' is not a string");
  m.key = raw["key"].get<std::string>();
  for (const char* section : {"params", "counts", "extra", "producer"}) {
    auto it = raw.find(section);
    if (it == raw.end()) continue;  // counts/extra/producer: artifacts of older visrec may lack them
    if (!it->is_object()) Unusable(dir, std::string("'") + section + "' is not an object");
  }
  m.params = raw.at("params");
  if (raw.contains("counts")) m.counts = raw["counts"];
  if (raw.contains("extra")) m.extra = raw["extra"];
  if (raw.contains("producer")) m.producer = raw["producer"];
  if (raw.contains("tag")) {
    if (!raw["tag"].is_string()) Unusable(dir, "'tag' is not a string");
    m.tag = raw["tag"].get<std::string>();
  }
  if (raw.contains("manifest_sha256")) {
    if (!raw["manifest_sha256"].is_string()) Unusable(dir, "'manifest_sha256' is not a string");
    m.manifest_sha256 = raw["manifest_sha256"].get<std::string>();
  }
  if (!raw.at("inputs").is_array()) Unusable(dir, "'inputs' is not a list");
  for (const auto& in : raw["inputs"]) {
    if (!in.is_object()) Unusable(dir, "'inputs' has an entry that is not an object");
    ArtifactInput i{RequiredString(in, "role", dir, "inputs"), RequiredString(in, "kind", dir, "inputs"),
                    RequiredString(in, "path", dir, "inputs"), RequiredString(in, "digest", dir, "inputs")};
    if (in.contains("manifest_sha256")) i.manifest_digest = RequiredString(in, "manifest_sha256", dir, "inputs");
    m.inputs.push_back(std::move(i));
  }
  if (!raw.at("outputs").is_array()) Unusable(dir, "'outputs' is not a list");
  for (const auto& o : raw["outputs"]) {
    if (!o.is_object()) Unusable(dir, "'outputs' has an entry that is not an object");
    ManifestOutput out{
        RequiredString(o, "file", dir, "outputs"), 0, RequiredString(o, "sha256", dir, "outputs"), "", {}};
    if (!o.contains("bytes") || !o["bytes"].is_number_unsigned())
      Unusable(dir, "'outputs' has an entry without 'bytes'");
    out.bytes = o["bytes"].get<uint64_t>();
    if (o.contains("dtype")) {
      out.dtype = RequiredString(o, "dtype", dir, "outputs");
      if (!o.contains("shape") || !o["shape"].is_array()) Unusable(dir, "'outputs' has an npy entry without 'shape'");
      for (const auto& d : o["shape"]) {
        if (!d.is_number_integer()) Unusable(dir, "'outputs' has a shape that is not a list of integers");
        out.shape.push_back(d.get<int64_t>());
      }
    }
    m.outputs.push_back(std::move(out));
  }
  if (raw.contains("failures")) {
    if (!raw["failures"].is_array()) Unusable(dir, "'failures' is not a list");
    for (const auto& f : raw["failures"]) {
      if (!f.is_object()) Unusable(dir, "'failures' has an entry that is not an object");
      m.failures.push_back({RequiredString(f, "id", dir, "failures"), RequiredString(f, "file", dir, "failures"),
                            RequiredString(f, "reason", dir, "failures")});
    }
  }
  return m;
}

bool Manifest::HasOutput(const std::string& file) const { return FindOutput(file) != nullptr; }

const ManifestOutput* Manifest::FindOutput(const std::string& file) const {
  for (const auto& o : outputs)
    if (o.file == file) return &o;
  return nullptr;
}

std::vector<ArtifactInput> Manifest::InputsWithRole(const std::string& role) const {
  std::vector<ArtifactInput> out;
  for (const auto& in : inputs)
    if (in.role == role) out.push_back(in);
  return out;
}

void Manifest::Bad(const std::string& section, const std::string& name, const std::string& why) const {
  // A shard's or a user part's own artifact is remade with the same --shard / --score-part.
  std::string which;
  for (const char* flag : {"shard", "score_part"})
    if (auto it = params.find(flag); it != params.end())
      which = std::string(" and the --") + (flag == std::string("shard") ? "shard" : "score-part") + " that made it (" +
              (it->is_string() ? it->get<std::string>() : it->dump()) + ")";
  throw ArtifactError("artifact '" + dir.string() + "' (stage " + stage + ") " +
                      (why == "missing" ? "has no " + section + "." + name + " in its manifest"
                                        : "has a bad " + section + "." + name + " in its manifest (" + why + ")") +
                      "; it was made by another visrec or edited: rerun `visrec " + stage + "` with --force" + which);
}

}  // namespace visrec
