#include "visrec/util/batch_line.h"

#include <cstdio>

namespace visrec {

bool ParseBatchLine(const std::string& raw, std::string* kind, std::string* arg) {
  std::string line = raw;
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  const size_t start = line.find_first_not_of(" \t");
  if (start == std::string::npos || line[start] == '#') return false;
  const size_t sp = line.find_first_of(" \t", start);
  *kind = line.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
  const size_t at = sp == std::string::npos ? std::string::npos : line.find_first_not_of(" \t", sp);
  *arg = at == std::string::npos ? "" : line.substr(at);
  return true;
}

std::string EscapeControl(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(char(c));
    }
  }
  return out;
}

}  // namespace visrec
