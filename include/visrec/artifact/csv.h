// RFC-4180 CSV: quoted fields with commas, quotes and newlines; CRLF; UTF-8 BOM tolerated.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace visrec {

struct CsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;                 // 1-based line where each row starts (header is line 1)
  int Column(const std::string& name) const;  // -1 when absent
};

// Reads the whole file. Structural errors (unterminated quote, garbage after a closing quote,
// empty file, no header) are InputErrors naming the file and line. Rows whose field count differs
// from the header are kept as they are: the typed readers decide whether to skip or fail.
CsvTable ReadCsv(const std::filesystem::path& path);
CsvTable ParseCsv(const std::string& text, const std::string& name_for_errors);
// The same parse, row by row, keeping no table: for files of millions of rows, where a string per
// field of every row costs far more memory than the file. `on_header` gets the first non-blank row
// (fields trimmed), `on_row` each later one with the line it starts on; both may move from the row.
using CsvHeaderFn = std::function<void(std::vector<std::string>& header)>;
using CsvRowFn = std::function<void(std::vector<std::string>& row, int64_t line)>;
void StreamCsv(const std::string& text, const std::string& name_for_errors, const CsvHeaderFn& on_header,
               const CsvRowFn& on_row);
// A file is read in pieces of a few MB, never whole: rows, lines and errors are those of StreamCsv
// on the whole text.
void StreamCsvFile(const std::filesystem::path& path, const CsvHeaderFn& on_header, const CsvRowFn& on_row);
// The same from any source: `read(buf, n)` fills up to n bytes and returns how many (0 at the end);
// `piece_bytes` is the usual read size (tests use tiny ones to cut rows at every byte).
using CsvReadFn = std::function<size_t(char* buf, size_t n)>;
void StreamCsvPieces(const CsvReadFn& read, size_t piece_bytes, const std::string& name_for_errors,
                     const CsvHeaderFn& on_header, const CsvRowFn& on_row);

std::string CsvLine(const std::vector<std::string>& fields);  // with trailing '\n'
// The same, appended to `out` without temporaries (for files of millions of lines).
void AppendCsvField(std::string& out, std::string_view field);
void AppendCsvLine(std::string& out, std::initializer_list<std::string_view> fields);
// Writes `header`, then the lines that `format(i, out)` appends for i = 0 .. count-1, in that order:
// blocks of rows are formatted by `threads` workers at once and written as each round completes,
// so a file of millions of lines is neither held whole in memory nor formatted on one core.
void WriteLinesInParallel(const std::filesystem::path& path, const std::string& header, int64_t count, int threads,
                          const std::function<void(int64_t i, std::string& out)>& format);

}  // namespace visrec
