#include "visrec/artifact/csv.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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
// With more to come, false when the text ends before that can be decided (the caller reparses
// the row with more text); at the true end that is an unterminated field.
inline bool ReadQuotedField(const char* text, size_t n, bool more_to_come, size_t& i, int64_t& line, std::string& field,
                            const std::string& name) {
  const int64_t start_line = line;
  ++i;
  for (;;) {
    if (i >= n) {
      if (more_to_come) return false;
      throw InputError(name + ":" + std::to_string(start_line) +
                       ": unterminated quoted field (a '\"' is never closed); fix the quoting");
    }
    char d = text[i];
    if (d == '"') {
      if (i + 1 >= n && more_to_come) return false;  // perhaps the first of a ""
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
  if (i >= n && more_to_come) return false;  // what follows the quote is not known yet
  if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
    throw InputError(name + ":" + std::to_string(line) +
                     ": unexpected character after a closing quote; quote the whole field");
  return true;
}

// What a parse carries from one piece of a file to the next.
struct CsvParseState {
  bool have_header = false;
  int64_t line = 1;  // of text[0]
};

// Parses the rows of text[0, n), calling on_header for the first non-blank one and on_row for the
// others. With more_to_come, a row the text ends inside is left alone and its offset returned (the
// caller passes it again with more text behind it); otherwise everything is parsed and n returned.
size_t ParseRows(const char* text, size_t n, bool more_to_come, const std::string& name, CsvParseState& st,
                 const CsvHeaderFn& on_header, const CsvRowFn& on_row) {
  size_t i = 0;
  int64_t line = st.line;
  std::vector<std::string> row;
  std::string field;
  int64_t row_line = line;
  size_t row_start = 0;
  bool row_started = false;
  auto end_row = [&]() {
    row.push_back(std::move(field));
    field.clear();
    bool blank = row.size() == 1 && row[0].empty();
    if (!blank) {
      if (!st.have_header) {
        st.have_header = true;
        CleanHeader(row, name, row_line);
        on_header(row);
      } else {
        on_row(row, row_line);
      }
    }
    row.clear();
    row_started = false;
  };
  const auto incomplete = [&]() {
    st.line = row_line;
    return row_start;
  };
  while (i < n) {
    char c = text[i];
    if (!row_started) {
      row_line = line;
      row_start = i;
      row_started = true;
    }
    if (c == '"' && field.empty()) {
      if (!ReadQuotedField(text, n, more_to_come, i, line, field, name)) return incomplete();
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      ++i;
      continue;
    }
    if (c == '\r') {
      if (i + 1 >= n && more_to_come) return incomplete();  // perhaps a CRLF
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
  if (more_to_come && row_started) return incomplete();
  if (row_started || !field.empty() || !row.empty()) end_row();
  st.line = line;
  return n;
}

bool HasBom(const char* text, size_t n) { return n >= 3 && std::memcmp(text, "\xEF\xBB\xBF", 3) == 0; }

}  // namespace

void StreamCsv(const std::string& text, const std::string& name, const CsvHeaderFn& on_header, const CsvRowFn& on_row) {
  const size_t skip = HasBom(text.data(), text.size()) ? 3 : 0;  // UTF-8 BOM
  CsvParseState st;
  ParseRows(text.data() + skip, text.size() - skip, false, name, st, on_header, on_row);
  if (!st.have_header) throw InputError(name + ": the file is empty; expected a header line");
}

void StreamCsvPieces(const CsvReadFn& read, size_t piece_bytes, const std::string& name, const CsvHeaderFn& on_header,
                     const CsvRowFn& on_row) {
  CsvParseState st;
  std::string buf;  // the rows not parsed yet
  bool at_start = true;
  for (;;) {
    // A row longer than what is buffered doubles the next read, so reparsing it stays linear.
    const size_t want = std::max(piece_bytes, buf.size());
    const size_t had = buf.size();
    buf.resize(had + want);
    const size_t got = read(buf.data() + had, want);
    buf.resize(had + got);
    const bool eof = got == 0;
    size_t skip = 0;
    if (at_start) {
      if (buf.size() < 3 && !eof) continue;  // the BOM check needs 3 bytes
      skip = HasBom(buf.data(), buf.size()) ? 3 : 0;
      at_start = false;
    }
    const size_t used = skip + ParseRows(buf.data() + skip, buf.size() - skip, !eof, name, st, on_header, on_row);
    buf.erase(0, used);
    if (eof) break;
  }
  if (!st.have_header) throw InputError(name + ": the file is empty; expected a header line");
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
void RequireCsvFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError("'" + path.string() + "' does not exist or is not a file; check the path");
}

std::string ReadCsvText(const std::filesystem::path& path) {
  RequireCsvFile(path);
  return ReadFileBytes(path);
}
}  // namespace

CsvTable ReadCsv(const std::filesystem::path& path) { return ParseCsv(ReadCsvText(path), path.string()); }

void StreamCsvFile(const std::filesystem::path& path, const CsvHeaderFn& on_header, const CsvRowFn& on_row) {
  RequireCsvFile(path);
  std::string why;
  const int fd = OpenRegularFileFd(path, &why);
  if (fd < 0) throw InputError("cannot read '" + path.string() + "': " + why);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const auto read = [&](char* out, size_t want) -> size_t {
    for (;;) {
      const ssize_t n = ::read(fd, out, want);
      if (n >= 0) return size_t(n);
      if (errno != EINTR) throw InputError("error while reading '" + path.string() + "': " + ErrnoText());
    }
  };
  // Pieces of a few MB: the file is never held whole (at 50M interactions it is GBs).
  StreamCsvPieces(read, size_t(8) << 20, path.string(), on_header, on_row);
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
