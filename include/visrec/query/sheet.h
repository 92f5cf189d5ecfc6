// Contact sheets: rows of square photo tiles with a few caption lines under each, as PNG bytes.
// Shared by `visrec query --png` and `visrec report`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace visrec::query {

struct Tile {
  std::vector<uint8_t> rgb;        // crop x crop x 3 preprocessed pixels; empty = grey "no photo" tile
  std::vector<std::string> lines;  // caption lines (at most 3 drawn)
  bool highlight = false;          // the query / the row's subject: drawn with a thick frame
};

struct SheetLayout {
  int tile = 160, pad = 8, caption_line = 17, caption_lines = 2, per_row = 6;
  int CaptionHeight() const { return caption_line * caption_lines + 10; }
};

// Each row of tiles starts on a new line of the sheet; rows longer than per_row wrap.
// Geometry: width = pad + min(longest row, per_row) * (tile + pad); each line of tiles adds
// tile + caption + pad to the height (plus pad at the top).
std::string RenderSheetPng(const std::vector<std::vector<Tile>>& rows, int crop, const SheetLayout& layout = {});

}  // namespace visrec::query
