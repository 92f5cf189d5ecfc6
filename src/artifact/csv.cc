#include "visrec/artifact/csv.h"

#include <algorithm>
#include <functional>

#include "visrec/artifact/stage.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/parallel.h"

namespace visrec {

int CsvTable::Column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return int(i);
  return -1;
}

namespace {

// Header names trimmed and made valid UTF-8; a name given twice is an error (one reader would read
// it first-wins, another last-wins).
void CleanHeader(std::vector<std::string>& row, const std::string& name, int64_t line) {
  for (auto& h : row) {
    while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.pop_back();
    while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.erase(0, 1);
    h = ToValidUtf8(h);
  }
  for (size_t a = 0; a < row.size(); ++a)
    for (size_t b = a + 1; b < row.size(); ++b)
      if (!row[a].empty() && row[a] == row[b])
        throw InputError(name + ":" + std::to_string(line) + ": the header names column '" + row[a] +
                         "' twice (columns " + std::to_string(a + 1) + " and " + std::to_string(b + 1) +
                         "); rename or drop one");
}

// A quoted field starting at text[i] (the opening quote): runs to the matching quote, "" is a
// literal quote, and it may span lines (counted in `line`). Leaves i after the closing quote.
inline void ReadQuotedField(const std::string& text, size_t& i, int64_t& line, std::string& field,
                            const std::string& name) {
  const size_t n = text.size();
  const int64_t start_line = line;
  ++i;
  for (;;) {
    if (i >= n)
      throw InputError(name + ":" + std::to_string(start_line) +
                       ": unterminated quoted field (a '\"' is never closed); fix the quoting");
    char d = text[i];
    if (d == '"') {
      if (i + 1 < n && text[i + 1] == '"') {
        field.push_back('"');
        i += 2;
        continue;
      }
      ++i;
      break;
    }
    if (d == '\n') ++line;
    field.push_back(d);
    ++i;
  }
  if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
    throw InputError(name + ":" + std::to_string(line) +
                     ": unexpected character after a closing quote; quote the whole field");
}

}  // namespace

void StreamCsv(const std::string& text, const std::string& name, const CsvHeaderFn& on_header, const CsvRowFn& on_row) {
  bool have_header = false;
  size_t i = 0, n = text.size();
  if (n >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // UTF-8 BOM
  int64_t line = 1;
  std::vector<std::string> row;
  std::string field;
  int64_t row_line = 1;
  bool row_started = false;
  auto end_row = [&]() {
    row.push_back(std::move(field));
    field.clear();
    bool blank = row.size() == 1 && row[0].empty();
    if (!blank) {
      if (!have_header) {
        have_header = true;
        CleanHeader(row, name, row_line);
        on_header(row);
      } else {
        on_row(row, row_line);
      }
    }
    row.clear();
    row_started = false;
  };
  while (i < n) {
    char c = text[i];
    if (!row_started) {
      row_line = line;
      row_started = true;
    }
    if (c == '"' && field.empty()) {
      ReadQuotedField(text, i, line, field, name);
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      ++i;
      continue;
    }
    if (c == '\r') {
      ++i;
      if (i < n && text[i] == '\n') ++i;
      ++line;
      end_row();
      continue;
    }
    if (c == '\n') {
      ++i;
      ++line;
      end_row();
      continue;
    }
    field.push_back(c);
    ++i;
  }
  if (row_started || !field.empty() || !row.empty()) end_row();
  if (!have_header) throw InputError(name + ": the file is empty; expected a header line");
}

CsvTable ParseCsv(const std::string& text, const std::string& name) {
  CsvTable t;
  t.path = name;
  StreamCsv(
      text, name, [&](std::vector<std::string>& header) { t.header = std::move(header); },
      [&](std::vector<std::string>& row, int64_t line) {
        t.rows.push_back(std::move(row));
        t.lines.push_back(line);
      });
  return t;
}

namespace {
std::string ReadCsvText(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError("'" + path.string() + "' does not exist or is not a file; check the path");
  return ReadFileBytes(path);
}
}  // namespace

CsvTable ReadCsv(const std::filesystem::path& path) { return ParseCsv(ReadCsvText(path), path.string()); }

void StreamCsvFile(const std::filesystem::path& path, const CsvHeaderFn& on_header, const CsvRowFn& on_row) {
  StreamCsv(ReadCsvText(path), path.string(), on_header, on_row);
}

void AppendCsvField(std::string& out, std::string_view f) {
  if (f.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += f;
    return;
  }
  out.push_back('"');
  for (char c : f) {
    if (c == '"')
      out += "\"\"";
    else
      out.push_back(c);
  }
  out.push_back('"');
}

void AppendCsvLine(std::string& out, std::initializer_list<std::string_view> fields) {
  bool first = true;
  for (std::string_view f : fields) {
    if (!first) out.push_back(',');
    first = false;
    AppendCsvField(out, f);
  }
  out.push_back('\n');
}

std::string CsvLine(const std::vector<std::string>& fields) {
  std::string s;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) s.push_back(',');
    AppendCsvField(s, fields[i]);
  }
  s.push_back('\n');
  return s;
}

void WriteLinesInParallel(const std::filesystem::path& path, const std::string& header, int64_t count, int threads,
                          const std::function<void(int64_t i, std::string& out)>& format) {
  // Rows per formatting task: 4096 at first, then as many as make about 1 MiB at the sizes seen so
  // far, so the blocks held at once stay near 2 MiB per worker however long a row's lines are.
  constexpr int64_t kBlockBytes = int64_t(1) << 20;
  threads = ResolveThreads(threads);
  FileStreamWriter out(path);
  out.Write(header);
  std::vector<std::string> blocks(static_cast<size_t>(2 * threads));
  std::vector<std::pair<int64_t, int64_t>> ranges(blocks.size());
  int64_t block_rows = 4096, done = 0, bytes = 0;
  while (done < count) {
    int64_t round = 0;
    for (; round < int64_t(blocks.size()) && done < count; ++round) {
      ranges[size_t(round)] = {done, std::min(count, done + block_rows)};
      done = ranges[size_t(round)].second;
    }
    ParallelFor(round, threads, [&](int64_t b) {
      std::string& s = blocks[size_t(b)];
      s.clear();
      for (int64_t i = ranges[size_t(b)].first; i < ranges[size_t(b)].second; ++i) format(i, s);
    });
    for (int64_t b = 0; b < round; ++b) {
      out.Write(blocks[size_t(b)]);
      bytes += int64_t(blocks[size_t(b)].size());
      if (blocks[size_t(b)].capacity() > size_t(4 * kBlockBytes)) std::string().swap(blocks[size_t(b)]);
    }
    block_rows = std::clamp<int64_t>(kBlockBytes * done / std::max<int64_t>(1, bytes), 16, 4096);
  }
  out.Close();
}

}  // namespace visrec
