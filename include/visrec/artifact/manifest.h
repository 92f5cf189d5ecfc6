// An artifact's manifest.json as a typed record: what every reader of an artifact goes through.
//
// The header fields (stage, versions, key, inputs, outputs, failures, tag) are parsed and checked once
// when an artifact opens. `params`, `counts` and `extra` belong to the stage that wrote them; readers
// take them through that stage's typed contract (visrec/artifact/contracts.h) or the checked getters here.
// A getter never invents a value: a missing or mistyped key is an ArtifactError (exit 4) naming the
// artifact, the section and the key.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "visrec/util/choice.h"

namespace visrec {

using nlohmann::json;

struct ArtifactInput {
  std::string role;    // "catalog", "preprocess", ...
  std::string kind;    // "file" | "artifact" | "fileset"
  std::string path;    // informational; not part of the key
  std::string digest;  // sha256 of a file, content digest of an artifact, or of a file set
  // Artifacts only: the parent's manifest digest (manifest_sha256) when it was read, so `verify`
  // sees a parent manifest edited after the fact. Not part of the key.
  std::string manifest_digest = {};
};

struct ManifestOutput {
  std::string file;
  uint64_t bytes = 0;
  std::string sha256;
  std::string dtype;           // npy outputs only
  std::vector<int64_t> shape;  // npy outputs only
};

struct ManifestFailure {
  std::string id, file, reason;
};

class Manifest {
 public:
  // Checks the header fields' presence and types; ArtifactError naming `dir` otherwise.
  static Manifest Parse(const json& raw, const std::filesystem::path& dir);

  std::filesystem::path dir;  // where the artifact was opened, for messages
  int schema_version = 0;
  std::string stage;
  int stage_version = 0;
  std::string key;
  std::string tag;              // "" when the run had no --tag
  std::string manifest_sha256;  // "" for artifacts written before it was recorded
  std::vector<ArtifactInput> inputs;
  std::vector<ManifestOutput> outputs;
  std::vector<ManifestFailure> failures;
  json params = json::object();
  json counts = json::object();
  json extra = json::object();
  json producer = json::object();

  bool HasOutput(const std::string& file) const;
  // The outputs' entry for `file`, or nullptr.
  const ManifestOutput* FindOutput(const std::string& file) const;
  // The recorded inputs with this role (in recorded order).
  std::vector<ArtifactInput> InputsWithRole(const std::string& role) const;

  template <class T>
  T Param(const std::string& name) const {
    return Get<T>(params, "params", name);
  }
  template <class T>
  T Count(const std::string& name) const {
    return Get<T>(counts, "counts", name);
  }
  template <class T>
  T Extra(const std::string& name) const {
    return Get<T>(extra, "extra", name);
  }
  // A recorded choice (choice.h): one of E's names, else an ArtifactError naming the key.
  template <class E>
  E ParamChoice(const std::string& name) const {
    const std::string text = Param<std::string>(name);
    const std::optional<E> value = FindChoice<E>(text);
    if (!value) Bad("params", name, "'" + text + "' is not " + ChoiceText<E>());
    return *value;
  }
  // For keys a stage writes only in some runs (a shard's "shard", reduce's "drift"): nullopt when
  // absent, an ArtifactError when present with the wrong type.
  template <class T>
  std::optional<T> OptionalParam(const std::string& name) const {
    return GetOptional<T>(params, "params", name);
  }
  template <class T>
  std::optional<T> OptionalCount(const std::string& name) const {
    return GetOptional<T>(counts, "counts", name);
  }
  template <class T>
  std::optional<T> OptionalExtra(const std::string& name) const {
    return GetOptional<T>(extra, "extra", name);
  }

  // ArtifactError: "artifact DIR (stage S) has no/bad SECTION.NAME (...); rerun its stage with --force".
  [[noreturn]] void Bad(const std::string& section, const std::string& name, const std::string& why) const;

 private:
  template <class T>
  T Get(const json& section, const char* section_name, const std::string& name) const {
    auto it = section.find(name);
    if (it == section.end()) Bad(section_name, name, "missing");
    return Convert<T>(*it, section_name, name);
  }
  template <class T>
  std::optional<T> GetOptional(const json& section, const char* section_name, const std::string& name) const {
    auto it = section.find(name);
    if (it == section.end()) return std::nullopt;
    return Convert<T>(*it, section_name, name);
  }
  template <class T>
  T Convert(const json& value, const char* section_name, const std::string& name) const {
    if constexpr (std::is_same_v<T, json>) {
      return value;
    } else {
      bool ok = false;
      if constexpr (std::is_same_v<T, bool>)
        ok = value.is_boolean();
      else if constexpr (std::is_unsigned_v<T>)
        ok = value.is_number_unsigned();
      else if constexpr (std::is_integral_v<T>)
        ok = value.is_number_integer();
      else if constexpr (std::is_floating_point_v<T>)
        ok = value.is_number();
      else if constexpr (std::is_same_v<T, std::string>)
        ok = value.is_string();
      else
        ok = !value.is_null();
      if (ok) {
        try {
          return value.get<T>();
        } catch (const json::exception&) {}
      }
      Bad(section_name, name, "has the wrong type: " + value.dump());
    }
  }
};

}  // namespace visrec
