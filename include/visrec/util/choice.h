// Options with a closed set of values ("crop | letterbox") are enums in the options structs, parsed
// once where text comes in: a flag or config value (the CLI), or a manifest (the reader). The
// names are what manifests record, so artifact keys stay those of the strings the enums replaced.
//
// A stage declares its choices beside the enum:
//   template <> struct ChoiceNames<preprocess::Trim> {
//     static constexpr std::pair<preprocess::Trim, const char*> kNames[] = {{kOff, "off"}, {kAuto, "auto"}};
//   };
#pragma once
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace visrec {

template <class E>
struct ChoiceNames;

template <class E, class = void>
struct IsChoice : std::false_type {};
template <class E>
struct IsChoice<E, std::void_t<decltype(ChoiceNames<E>::kNames)>> : std::true_type {};

// The recorded name of a value.
template <class E>
const char* ChoiceName(E value) {
  for (const auto& [v, name] : ChoiceNames<E>::kNames)
    if (v == value) return name;
  return "?";  // unreachable for a declared enum value
}

// Every name, in declaration order.
template <class E>
std::vector<std::string> ChoiceList() {
  std::vector<std::string> out;
  for (const auto& entry : ChoiceNames<E>::kNames) out.push_back(entry.second);
  return out;
}

// "a | b | c", for help texts and messages.
template <class E>
std::string ChoiceText() {
  std::string out;
  for (const auto& name : ChoiceList<E>()) out += (out.empty() ? "" : " | ") + name;
  return out;
}

// The value named `text`; nullopt for anything else (case matters: names are recorded exactly).
template <class E>
std::optional<E> FindChoice(const std::string& text) {
  for (const auto& [v, name] : ChoiceNames<E>::kNames)
    if (text == name) return v;
  return std::nullopt;
}

}  // namespace visrec

// In JSON a choice is its name, never the enum's number (params, keys and extras record names).
namespace nlohmann {
template <class E>
struct adl_serializer<E, std::enable_if_t<visrec::IsChoice<E>::value>> {
  static void to_json(json& j, E value) { j = visrec::ChoiceName(value); }
  static void from_json(const json& j, E& value) {
    const std::optional<E> v = j.is_string() ? visrec::FindChoice<E>(j.get<std::string>()) : std::nullopt;
    if (!v) throw std::invalid_argument("not one of " + visrec::ChoiceText<E>() + ": " + j.dump());
    value = *v;
  }
};
}  // namespace nlohmann
