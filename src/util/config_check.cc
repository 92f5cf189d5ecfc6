#include "visrec/util/config_check.h"

#include <algorithm>
#include <set>
#include <utility>

#include "visrec/util/errors.h"
#include "visrec/util/numfmt.h"

namespace visrec {
namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

// One value starting at s[*i]: a quoted string, a number, a boolean or (top level) an array.
// Advances *i past it; "" when fine, else what is wrong.
std::string ParseValue(const std::string& s, size_t* i, bool in_array) {
  if (*i >= s.size()) return "a value is missing";
  const char c = s[*i];
  if (c == '"' || c == '\'') {
    for (size_t j = *i + 1; j < s.size(); ++j) {
      if (c == '"' && s[j] == '\\') {
        ++j;
        continue;
      }
      if (s[j] == c) {
        *i = j + 1;
        return "";
      }
    }
    return std::string("a string is never closed (missing ") + c + ")";
  }
  if (c == '[') {
    if (in_array) return "nested arrays are not supported";
    ++*i;
    bool want_value = true;
    for (;;) {
      while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t')) ++*i;
      if (*i >= s.size()) return "an array is never closed (missing ]) ; arrays must fit on one line";
      if (s[*i] == ']') {
        ++*i;
        return "";
      }
      if (!want_value) {
        if (s[*i] != ',') return "array values must be separated by commas";
        ++*i;
        want_value = true;
        continue;
      }
      if (auto why = ParseValue(s, i, true); !why.empty()) return why;
      want_value = false;
    }
  }
  size_t j = *i;
  while (j < s.size() && s[j] != ',' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' && s[j] != '#') ++j;
  const std::string word = s.substr(*i, j - *i);
  if (word.empty()) return "a value is missing";
  if (word == "true" || word == "false" || ParseDouble(word) || ParseInt(word)) {
    *i = j;
    return "";
  }
  return "'" + ToValidUtf8(word) + "' is not a number, true/false or a quoted string (quote text values)";
}

}  // namespace

std::vector<ConfigEntry> CheckConfigSyntax(const std::string& text, const std::string& name) {
  std::vector<ConfigEntry> out;
  std::set<std::pair<std::string, std::string>> seen;
  std::string section;
  int64_t line_no = 0;
  size_t pos = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = Trim(text.substr(pos, end - pos));
    ++line_no;
    pos = end + 1;
    const auto fail = [&](const std::string& why) {
      throw UsageError(name + ":" + std::to_string(line_no) + ": " + why + " (in the --config file)");
    };
    if (line.empty() || line[0] == '#' || line[0] == ';') {
      if (end == text.size()) break;
      continue;
    }
    if (line[0] == '[') {
      const size_t close = line.find(']');
      if (close == std::string::npos) fail("a section header is never closed (missing ])");
      std::string rest = Trim(line.substr(close + 1));
      if (!rest.empty() && rest[0] != '#') fail("unexpected text after the section header");
      section = Trim(line.substr(1, close - 1));
      if (section.empty() || !std::all_of(section.begin(), section.end(), IsKeyChar))
        fail("a section name must be letters, digits, '-', '_' or '.'");
    } else {
      const size_t eq = line.find('=');
      if (eq == std::string::npos) fail("expected 'key = value'");
      const std::string key = Trim(line.substr(0, eq));
      if (key.empty() || !std::all_of(key.begin(), key.end(), IsKeyChar))
        fail("a key must be letters, digits, '-', '_' or '.', got '" + ToValidUtf8(key) + "'");
      std::string value = line.substr(eq + 1);
      size_t i = value.find_first_not_of(" \t");
      if (i == std::string::npos) fail("the value of '" + key + "' is missing");
      if (auto why = ParseValue(value, &i, false); !why.empty()) fail(why);
      const std::string rest = Trim(value.substr(i));
      if (!rest.empty() && rest[0] != '#')
        fail("unexpected text after the value of '" + key + "': '" + ToValidUtf8(rest) + "'");
      if (!seen.insert({section, key}).second)
        fail("'" + key + "' is given twice" + (section.empty() ? "" : " in [" + section + "]"));
      out.push_back({section, key, line_no});
    }
    if (end == text.size()) break;
  }
  return out;
}

std::string NearestName(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::vector<size_t> prev(c.size() + 1), cur(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= c.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (word[i - 1] == c[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    if (prev[c.size()] < best_d) {
      best_d = prev[c.size()];
      best = c;
    }
  }
  return best;
}

}  // namespace visrec
