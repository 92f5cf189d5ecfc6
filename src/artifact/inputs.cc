#include "visrec/artifact/inputs.h"

#include <cmath>
#include <fstream>
#include <set>

#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"

namespace visrec {
namespace {

constexpr size_t kMaxIdBytes = 512;

// Why an id field is unusable, or "" when fine.
std::string BadId(const std::string& id, const char* what) {
  if (id.empty()) return std::string("empty ") + what;
  if (id.size() > kMaxIdBytes) return std::string(what) + " longer than 512 bytes";
  for (unsigned char c : id)
    if (c < 0x20 || c == 0x7f) return std::string(what) + " contains a control character";
  if (!IsValidUtf8(id)) return std::string(what) + " is not valid UTF-8 (re-export the file as UTF-8)";
  return "";
}

bool IsBlank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

int DaysInMonth(int y, int m) {
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

void Handle(BadRowPolicy policy, const std::string& file, int64_t line, const std::string& reason,
            std::vector<RowIssue>* issues) {
  if (policy == BadRowPolicy::kFail)
    throw InputError(file + ":" + std::to_string(line) + ": " + reason +
                     " (fix the row, or pass --bad-rows skip to skip such rows)");
  issues->push_back({line, reason});
}

void RequireColumns(const CsvTable& t, std::initializer_list<const char*> cols, const char* what) {
  for (const char* c : cols)
    if (t.Column(c) < 0)
      throw InputError(t.path + ":1: " + what + " header lacks the required column '" + c + "' (required: " + [&] {
        std::string s;
        for (const char* x : cols) s += std::string(s.empty() ? "" : ",") + x;
        return s;
      }() + ")");
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

}  // namespace

BadRowPolicy ParseBadRowPolicy(const std::string& s) {
  if (s == "skip") return BadRowPolicy::kSkip;
  if (s == "fail") return BadRowPolicy::kFail;
  throw UsageError("--bad-rows must be 'skip' or 'fail', got '" + s + "'");
}

bool ParseTimestamp(const std::string& raw, double* out) {
  std::string s = raw;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (auto v = ParseDouble(s)) {
    if (s.find_first_of("-:T") == std::string::npos || s[0] == '-') {
      *out = *v;
      return true;
    }
  }
  // YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|(+|-)HH[:]MM]
  auto digits = [&](size_t pos, size_t len, int* v) {
    if (pos + len > s.size()) return false;
    int x = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
  };
  int Y, M, D, h = 0, m = 0, sec = 0;
  if (!digits(0, 4, &Y) || s.size() < 10 || s[4] != '-' || !digits(5, 2, &M) || s[7] != '-' || !digits(8, 2, &D))
    return false;
  if (M < 1 || M > 12 || D < 1 || D > DaysInMonth(Y, M)) return false;
  size_t p = 10;
  double frac = 0;
  if (p < s.size() && (s[p] == 'T' || s[p] == ' ')) {
    if (!digits(p + 1, 2, &h) || p + 3 >= s.size() || s[p + 3] != ':' || !digits(p + 4, 2, &m)) return false;
    p += 6;
    if (p < s.size() && s[p] == ':') {
      if (!digits(p + 1, 2, &sec)) return false;
      p += 3;
      if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
        size_t q = p + 1;
        double scale = 0.1;
        while (q < s.size() && s[q] >= '0' && s[q] <= '9') {
          frac += (s[q] - '0') * scale;
          scale /= 10;
          ++q;
        }
        if (q == p + 1) return false;
        p = q;
      }
    }
    if (h > 23 || m > 59 || sec > 60) return false;
  }
  int64_t offset = 0;
  if (p < s.size()) {
    if (s[p] == 'Z' && p + 1 == s.size()) {
      p++;
    } else if (s[p] == '+' || s[p] == '-') {
      int oh, om = 0;
      if (!digits(p + 1, 2, &oh)) return false;
      size_t q = p + 3;
      if (q < s.size() && s[q] == ':') ++q;
      if (q < s.size() && !digits(q, 2, &om)) return false;
      if (q < s.size()) q += 2;
      if (q != s.size()) return false;
      if (oh > 18 || om > 59 || oh * 60 + om > 18 * 60) return false;  // real offsets are within +-18:00
      offset = (s[p] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
      p = q;
    } else {
      return false;
    }
  }
  *out = double(DaysFromCivil(Y, unsigned(M), unsigned(D)) * 86400 + h * 3600 + m * 60 + sec - offset) + frac;
  return true;
}

Catalog ReadCatalog(const std::filesystem::path& path, BadRowPolicy policy) {
  CsvTable t = ReadCsv(path);
  RequireColumns(t, {"item_id", "image"}, "catalog");
  Catalog c;
  c.path = path.string();
  c.columns = t.header;
  const int id_col = t.Column("item_id"), img_col = t.Column("image");
  const fs::path base = path.parent_path();
  std::set<std::pair<std::string, std::string>> seen;
  std::set<std::string> items;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const int64_t line = t.lines[r];
    if (row.size() != t.header.size()) {
      Handle(policy, c.path, line,
             "expected " + std::to_string(t.header.size()) + " fields, found " + std::to_string(row.size()), &c.issues);
      continue;
    }
    const std::string& id = row[size_t(id_col)];
    const std::string& img = row[size_t(img_col)];
    if (auto why = BadId(id, "item_id"); !why.empty()) {
      Handle(policy, c.path, line, why, &c.issues);
      continue;
    }
    if (img.empty()) {
      Handle(policy, c.path, line, "empty image path", &c.issues);
      continue;
    }
    if (!IsValidUtf8(img)) {
      Handle(policy, c.path, line, "image path is not valid UTF-8 (rename the file or re-export the catalog as UTF-8)",
             &c.issues);
      continue;
    }
    if (!seen.insert({id, img}).second) {
      ++c.duplicate_photo_rows;
      continue;
    }
    CatalogPhoto p;
    p.item_id = id;
    p.image = img;
    fs::path ip(img);
    p.resolved = ip.is_absolute() ? ip : base / ip;
    p.line = line;
    c.photos.push_back(std::move(p));
    if (items.insert(id).second) {
      auto& meta = c.metadata[id];
      for (size_t k = 0; k < t.header.size(); ++k)
        if (int(k) != id_col && int(k) != img_col) meta[t.header[k]] = ToValidUtf8(row[k]);
    }
  }
  c.item_ids.assign(items.begin(), items.end());
  if (!c.issues.empty()) spdlog::warn("{}", SummarizeIssues(c.path, c.issues));
  if (c.photos.empty()) throw InputError(c.path + ": no usable rows (every row was empty or malformed)");
  return c;
}

Interactions StreamInteractions(const std::filesystem::path& path, BadRowPolicy policy,
                                const std::function<void(Interaction&)>& fn) {
  Interactions out;
  out.path = path.string();
  CsvTable head;  // the header only, for the column checks
  head.path = out.path;
  int u_col = -1, i_col = -1, w_col = -1, ts_col = -1;
  const auto on_header = [&](std::vector<std::string>& header) {
    head.header = header;
    RequireColumns(head, {"user_id", "item_id"}, "interactions");
    u_col = head.Column("user_id");
    i_col = head.Column("item_id");
    w_col = head.Column("weight");
    ts_col = head.Column("timestamp");
    out.has_weight = w_col >= 0;
    out.has_timestamp = ts_col >= 0;
  };
  Interaction x;
  const auto on_row = [&](std::vector<std::string>& row, int64_t line) {
    ++out.data_rows;
    if (row.size() != head.header.size()) {
      Handle(policy, out.path, line,
             "expected " + std::to_string(head.header.size()) + " fields, found " + std::to_string(row.size()),
             &out.issues);
      return;
    }
    x = Interaction{};
    x.user_id = std::move(row[size_t(u_col)]);
    x.item_id = std::move(row[size_t(i_col)]);
    x.line = line;
    if (auto why = BadId(x.user_id, "user_id"); !why.empty()) {
      Handle(policy, out.path, line, why, &out.issues);
      return;
    }
    if (auto why = BadId(x.item_id, "item_id"); !why.empty()) {
      Handle(policy, out.path, line, why, &out.issues);
      return;
    }
    // An empty optional cell means "absent": weight 1, no timestamp.
    if (w_col >= 0 && !IsBlank(row[size_t(w_col)])) {
      auto w = ParseDouble(row[size_t(w_col)]);
      if (!w || *w < 0) {
        Handle(policy, out.path, line, "weight '" + ToValidUtf8(row[size_t(w_col)]) + "' is not a finite number >= 0",
               &out.issues);
        return;
      }
      if (*w > kMaxInteractionWeight) {
        Handle(policy, out.path, line,
               "weight '" + row[size_t(w_col)] + "' is above the maximum 1e9 (rescale the weights)", &out.issues);
        return;
      }
      x.weight = *w;
    }
    if (ts_col >= 0 && !IsBlank(row[size_t(ts_col)])) {
      if (!ParseTimestamp(row[size_t(ts_col)], &x.timestamp)) {
        Handle(policy, out.path, line,
               "timestamp '" + ToValidUtf8(row[size_t(ts_col)]) +
                   "' is neither a valid ISO-8601 date/time nor Unix seconds",
               &out.issues);
        return;
      }
      x.has_timestamp = true;
    } else if (out.first_without_timestamp == 0) {
      out.first_without_timestamp = line;
    }
    ++out.accepted;
    fn(x);
  };
  StreamCsvFile(path, on_header, on_row);
  if (!out.issues.empty()) spdlog::warn("{}", SummarizeIssues(out.path, out.issues));
  return out;
}

Interactions ReadInteractions(const std::filesystem::path& path, BadRowPolicy policy) {
  std::vector<Interaction> rows;
  Interactions out = StreamInteractions(path, policy, [&](Interaction& x) { rows.push_back(std::move(x)); });
  out.rows = std::move(rows);
  return out;
}

void WriteInteractions(const std::filesystem::path& path, const std::vector<Interaction>& rows, bool with_weight,
                       bool with_timestamp) {
  std::string s = InteractionsHeader(with_weight, with_timestamp);
  for (const auto& r : rows)
    AppendInteractionLine(s, r.user_id, r.item_id, r.weight, r.timestamp, r.has_timestamp, with_weight, with_timestamp);
  WriteFileAtomic(path, s);
}

std::string InteractionsHeader(bool with_weight, bool with_timestamp) {
  std::string s = "user_id,item_id";
  if (with_weight) s += ",weight";
  if (with_timestamp) s += ",timestamp";
  return s + "\n";
}

void AppendInteractionLine(std::string& out, std::string_view user_id, std::string_view item_id, double weight,
                           double timestamp, bool has_timestamp, bool with_weight, bool with_timestamp) {
  AppendCsvField(out, user_id);
  out.push_back(',');
  AppendCsvField(out, item_id);
  if (with_weight) (out += ',') += FormatShortest(weight);
  if (with_timestamp) {
    out.push_back(',');
    if (has_timestamp) out += FormatShortest(timestamp);
  }
  out.push_back('\n');
}

std::vector<std::string> IssueExamples(const std::vector<RowIssue>& issues, size_t most) {
  std::vector<std::string> out;
  for (size_t i = 0; i < issues.size() && i < most; ++i)
    out.push_back("line " + std::to_string(issues[i].line) + ": " + issues[i].reason);
  return out;
}

std::vector<std::string> IssueList(const std::vector<RowIssue>& issues, size_t most) {
  std::vector<std::string> out = IssueExamples(issues, most);
  if (issues.size() > most) out.push_back("... and " + std::to_string(issues.size() - most) + " more");
  return out;
}

void RequireUsableShare(const std::string& file, int64_t data_rows, int64_t unusable,
                        const std::vector<std::string>& examples, double max_fraction) {
  if (data_rows <= 0)
    throw InputError(file + ": no interaction rows after the header; nothing to recommend from or evaluate");
  if (unusable <= 0) return;
  const bool all = unusable >= data_rows;
  if (!all && double(unusable) <= max_fraction * double(data_rows)) return;
  std::string s = file + ": " + std::to_string(unusable) + " of " + std::to_string(data_rows) +
                  " rows are unusable (malformed, or naming items not in the catalog/features)";
  for (size_t i = 0; i < examples.size() && i < 3; ++i) s += (i ? "; " : ", e.g. ") + examples[i];
  s += all ? "; nothing would be left to recommend from. Fix the file (see the README's input formats)"
           : "; that is more than --max-bad-rows-fraction " + FormatShortest(max_fraction) +
                 ". Fix the file, or raise --max-bad-rows-fraction to go on without those rows";
  throw InputError(s);
}

void RequireTimestampOnEveryRow(const Interactions& in, const std::string& need, const std::string& instead) {
  if (in.first_without_timestamp <= 0) return;
  throw InputError(in.path + ":" + std::to_string(in.first_without_timestamp) + ": " + need +
                   " needs a timestamp on every row, and this one has none; fill the timestamps or " + instead);
}

std::string SummarizeIssues(const std::string& file, const std::vector<RowIssue>& issues) {
  std::string s = file + ": " + std::to_string(issues.size()) + " malformed row(s) skipped";
  for (size_t i = 0; i < issues.size() && i < 3; ++i)
    s += (i ? "; " : ", e.g. ") + std::string("line ") + std::to_string(issues[i].line) + ": " + issues[i].reason;
  return s;
}

}  // namespace visrec
