// `visrec report`: pictures of a finished workdir for people — contact sheets of items and their
// neighbours per source, users' histories next to their recommendations (with reasons), a 2-D
// catalog map of the reduced vectors coloured by a label, and an index.html linking them.
// Not an artifact: files for humans, each written atomically, index.html last; report.json lists
// which ids each picture shows (for scripts and tests).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "visrec/artifact/stage.h"
#include "visrec/report/tsne.h"

namespace visrec::report {

constexpr int64_t kTsneAutoMaxItems = 100000;

struct ReportOptions {
  std::filesystem::path workdir = kDefaultWorkdir;
  std::filesystem::path recommend;        // recommend artifact; empty = WORKDIR/recommend/latest
  std::filesystem::path out;              // empty = WORKDIR/report
  int items = 6;                          // sheets for the first N items (sorted ids) ...
  std::vector<std::string> item_ids;      // ... or for these
  int users = 4;                          // sheets for the first N users with a history ...
  std::vector<std::string> user_ids;      // ... or for these
  int k = 6;                              // neighbours / recommendations per row
  std::string label_column = "category";  // catalog column colouring the map (absent: one colour)
  int thumbnails = 0;                     // catalog map: draw this many item photos on it (0 = dots)
  int map_size = 900;                     // catalog map width = height in pixels
  // Catalog map layout: tsne (Barnes-Hut t-SNE of the unit-length reduced vectors), pca (their top
  // two principal components), or auto: tsne up to kTsneAutoMaxItems items, pca beyond.
  std::string map = "auto";
  TsneOptions tsne;
  void Validate() const;
};

struct ReportResult {
  std::filesystem::path index;
  std::vector<std::filesystem::path> pictures;
  json pictured;  // file -> what it shows (see report.json)
};

ReportResult WriteReport(const ReportOptions& options);

}  // namespace visrec::report
