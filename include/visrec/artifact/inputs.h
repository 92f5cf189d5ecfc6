// The fixed input formats: catalog CSV (item_id,image,...) and interactions CSV
// (user_id,item_id[,weight][,timestamp]).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace visrec {

// What to do with a malformed row: skip it (counted, first few quoted in the log and manifest)
// or stop with an error naming file and line. Default for every stage: skip.
enum class BadRowPolicy { kSkip, kFail };
BadRowPolicy ParseBadRowPolicy(const std::string& s);  // "skip" | "fail"

struct RowIssue {
  int64_t line = 0;
  std::string reason;
};

struct CatalogPhoto {
  std::string item_id;
  std::string image;               // as written in the CSV
  std::filesystem::path resolved;  // relative paths are taken from the CSV's folder
  int64_t line = 0;
};

struct Catalog {
  std::string path;
  std::vector<std::string> columns;   // header, in file order
  std::vector<CatalogPhoto> photos;   // file order
  std::vector<std::string> item_ids;  // sorted, unique
  // item -> column -> value, from the item's first row (metadata such as title, category).
  std::map<std::string, std::map<std::string, std::string>> metadata;
  std::vector<RowIssue> issues;      // skipped rows
  int64_t duplicate_photo_rows = 0;  // same (item, image) twice: kept once
};

Catalog ReadCatalog(const std::filesystem::path& path, BadRowPolicy policy = BadRowPolicy::kSkip);

// The largest interaction weight accepted: far above any count or rating, and small enough that
// sums over millions of rows stay exact-ish and finite. A larger value is a malformed row.
constexpr double kMaxInteractionWeight = 1e9;

struct Interaction {
  std::string user_id;
  std::string item_id;
  double weight = 1.0;     // 1 when the file has no weight column or the cell is empty
  double timestamp = 0.0;  // Unix seconds; 0 when absent (no column, or an empty cell)
  int64_t line = 0;
  bool has_timestamp = false;  // WriteInteractions leaves the cell empty when false
};

struct Interactions {
  std::string path;
  bool has_weight = false;
  bool has_timestamp = false;
  std::vector<Interaction> rows;  // file order (empty from StreamInteractions)
  std::vector<RowIssue> issues;
  int64_t accepted = 0;                 // rows that passed the checks
  int64_t data_rows = 0;                // rows after the header (accepted + issues)
  int64_t first_without_timestamp = 0;  // line of the first accepted row lacking a timestamp (0: none)
};

// "Zero is suspicious": stops with exit 3 when an interactions file has no rows after its header, or
// when its unusable rows (malformed, or naming unknown items) are all of its rows or more than
// `max_fraction` of them, naming the count, the first examples and the flag. `examples` are
// "line N: why" strings.
void RequireUsableShare(const std::string& file, int64_t data_rows, int64_t unusable,
                        const std::vector<std::string>& examples, double max_fraction);
// Exit 3 naming the first accepted row without a timestamp, when `need` (e.g. "--half-life-days")
// needs one on every row; `instead` says what to do otherwise.
void RequireTimestampOnEveryRow(const Interactions& in, const std::string& need, const std::string& instead);
std::vector<std::string> IssueExamples(const std::vector<RowIssue>& issues, size_t most);
// Every issue as "line N: why", at most `most` of them (for manifests), plus a note of the rest.
std::vector<std::string> IssueList(const std::vector<RowIssue>& issues, size_t most = 1000);

Interactions ReadInteractions(const std::filesystem::path& path, BadRowPolicy policy = BadRowPolicy::kSkip);
// The same checks, handing each accepted row to `fn` in file order (which may move from it) and
// keeping none: memory stays near the file's size for any number of rows. The result has no rows.
Interactions StreamInteractions(const std::filesystem::path& path, BadRowPolicy policy,
                                const std::function<void(Interaction&)>& fn);
void WriteInteractions(const std::filesystem::path& path, const std::vector<Interaction>& rows, bool with_weight,
                       bool with_timestamp);
// WriteInteractions's header and one of its lines, for writers that stream their rows.
std::string InteractionsHeader(bool with_weight, bool with_timestamp);
void AppendInteractionLine(std::string& out, std::string_view user_id, std::string_view item_id, double weight,
                           double timestamp, bool has_timestamp, bool with_weight, bool with_timestamp);

// ISO-8601 ("2024-03-01", "2024-03-01T12:30:00Z", "+02:00" offsets, fractions) or Unix seconds.
bool ParseTimestamp(const std::string& s, double* unix_seconds);

// A short human summary of issues for logs: "3 rows skipped, e.g. line 7: ...".
std::string SummarizeIssues(const std::string& file, const std::vector<RowIssue>& issues);

}  // namespace visrec
