// A strict reader of the TOML subset `--config` files use ([section] headers, `key = value` with
// strings, numbers, booleans and one-line arrays, # comments). The command-line parser is lenient
// and reports a broken line as some unrelated missing flag; this check runs first and names the
// file, the line and what is wrong.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace visrec {

struct ConfigEntry {
  std::string section;  // "" at the top, "run" under [run]
  std::string key;
  int64_t line = 0;
};

// UsageError "FILE:LINE: ..." on the first syntax error or a key given twice in one section.
std::vector<ConfigEntry> CheckConfigSyntax(const std::string& text, const std::string& name_for_errors);

// The candidate closest to `word` by edit distance ("" when none is within a third of its length).
std::string NearestName(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace visrec
