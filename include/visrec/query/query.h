// `visrec query`: answers from existing artifacts, without rerunning a stage.
//  - an item's similar items and a user's recommendations (with reasons): memory-mapped lookups;
//  - a new photo's nearest catalog items: the photo goes through the stored run's own preprocess
//    parameters, model and PCA fit (all read from the manifests, so a query cannot drift from the
//    batch), then an exact cosine search over the reduced item vectors.
#pragma once
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "visrec/artifact/stage.h"
#include "visrec/util/batch_line.h"
#include "visrec/util/compute.h"

namespace visrec::query {

struct QueryOptions {
  std::filesystem::path workdir = kDefaultWorkdir;
  std::filesystem::path recommend;  // recommend artifact; empty = WORKDIR/recommend/latest
  Device device = Device::kAuto;    // for photo queries
  int threads = 0;                  // 0 = all cores
  // Item queries: whose similar items: hybrid (the blend) | collaborative | visual | text.
  std::string source = "hybrid";
  // Catalog columns added to every answer (e.g. title, category), from the catalog the run used.
  std::vector<std::string> show;
  void Validate() const;
};

struct Answer {
  std::string item_id;
  double score = 0;
  std::string reason;  // user queries: why; item queries: the source; photo queries: "visual"
  std::vector<std::pair<std::string, std::string>> shown;  // --show: (column, value) in the order asked
};

struct Timings {  // milliseconds spent in each part of one query
  double preprocess = 0, model = 0, project = 0, search = 0, lookup = 0, total = 0;
};

struct QueryResult {
  std::string kind;   // item | user | image
  std::string query;  // the id or the photo path
  std::vector<Answer> answers;
  Timings ms;
};

class QueryEngine {
 public:
  // Opens the recommend artifact and its lineage (reduce, extract, preprocess) and checks them.
  QueryEngine(const QueryOptions& options);
  ~QueryEngine();
  QueryEngine(const QueryEngine&) = delete;
  QueryEngine& operator=(const QueryEngine&) = delete;

  // Errors (InputError) name what is unknown or unreadable.
  QueryResult Item(const std::string& item_id, int k);
  QueryResult User(const std::string& user_id, int k);
  QueryResult Image(const std::filesystem::path& photo, int k);  // loads the model on first use

  // The preprocessed pixels (crop x crop x 3 RGB) of an item's first photo, or of a query photo;
  // empty when the item has none. For contact sheets.
  std::vector<uint8_t> ItemPixels(const std::string& item_id);
  std::vector<uint8_t> PhotoPixels(const std::filesystem::path& photo);
  int crop() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct BatchSummary {
  int answered = 0, failed = 0;
  std::vector<double> total_ms, model_ms, search_ms;  // per answered query (model/search: photos only)
  std::string Format() const;                         // "N answered, F failed; p50 ..., p95 ..."
};
// Answers queries read line by line from `in`: "item ID", "user ID" or "image PATH" ('#' starts a
// comment). Each answer is written and flushed as soon as it is ready, so a long-lived process
// can serve a pipe (`visrec query --batch -`). A bad line or failing query is reported in place,
// naming NAME:LINE, and the batch goes on.
BatchSummary RunBatch(QueryEngine& engine, std::istream& in, const std::string& name, int k, bool json,
                      std::ostream& out);

// One line per answer: "rank  item_id  score  reason".
std::string FormatTable(const QueryResult& r);
// One JSON object (no newline inside).
std::string FormatJson(const QueryResult& r);
// A contact sheet: the query (photo or item, or nothing for a user) then each answer with rank,
// id and score under it. Written atomically as PNG.
void WriteContactSheet(QueryEngine& engine, const QueryResult& r, const std::filesystem::path& png);

}  // namespace visrec::query
