#include "visrec/artifact/csv.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "../test_util.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec {
namespace {

TEST(Csv, QuotingCrlfBom) {
  CsvTable t = ParseCsv("\xEF\xBB\xBFitem_id,title\r\nA,\"x, \"\"quoted\"\"\r\nline two\"\r\nB,plain\r\n", "t.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"item_id", "title"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0][1], "x, \"quoted\"\r\nline two");
  EXPECT_EQ(t.rows[1][1], "plain");
  EXPECT_EQ(t.lines[0], 2);
  EXPECT_EQ(t.lines[1], 4);  // the quoted newline counts
}

TEST(Csv, EmptyFieldsAndBlankLines) {
  CsvTable t = ParseCsv("a,b,c\n\n1,,3\n,,\n", "t.csv");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"1", "", "3"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(t.lines[0], 3);
}

TEST(Csv, NoTrailingNewline) {
  CsvTable t = ParseCsv("a,b\n1,\"2\"", "t.csv");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0][1], "2");
}

TEST(Csv, UnterminatedQuoteNamesLine) {
  try {
    ParseCsv("a,b\n1,2\n3,\"oops\n4,5\n", "bad.csv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:3"), std::string::npos) << e.what();
  }
}

TEST(Csv, GarbageAfterQuote) { EXPECT_THROW(ParseCsv("a\n\"x\"y\n", "g.csv"), InputError); }
TEST(Csv, EmptyFile) { EXPECT_THROW(ParseCsv("", "e.csv"), InputError); }

// Everything a parse reports, as text: header, rows with their lines, or the error.
std::string ParseLog(const std::function<void(const CsvHeaderFn&, const CsvRowFn&)>& parse) {
  std::string log;
  try {
    parse([&](std::vector<std::string>& h) { log += "H" + CsvLine(h); },
          [&](std::vector<std::string>& r, int64_t line) { log += std::to_string(line) + ":" + CsvLine(r); });
  } catch (const InputError& e) {
    log += std::string("E ") + e.what();
  }
  return log;
}

// A file is parsed in pieces; every cut (inside a quote, between "" , between CR and LF, inside
// the BOM) must give what the whole text gives, errors and line numbers included.
TEST(Csv, PiecesGiveWhatTheWholeTextGives) {
  const std::vector<std::string> texts = {
      "\xEF\xBB\xBFitem_id,title\r\nA,\"x, \"\"q\"\"\r\nline two\"\r\nB,plain\r\n",
      "a,b\n\n1,\"multi\nline\nfield\"\n2,\"\"\"\"\n3,x\r4,y",
      "a,b\n1,\"never closed\n2,3\n",
      "a\n\"x\"y\n",
      "a,a\n1,2\n",
      "",
      "\n\n",
      "h\n\"\"\n\"\"\"\"\r\n",
      "\xEF\xBB",
  };
  for (const std::string& text : texts) {
    const std::string whole =
        ParseLog([&](const CsvHeaderFn& h, const CsvRowFn& r) { StreamCsv(text, "p.csv", h, r); });
    for (size_t piece : {size_t(1), size_t(2), size_t(3), size_t(5), size_t(64)}) {
      size_t pos = 0;
      const CsvReadFn read = [&](char* out, size_t n) {
        const size_t k = std::min({n, piece, text.size() - pos});
        std::memcpy(out, text.data() + pos, k);
        pos += k;
        return k;
      };
      const std::string pieces =
          ParseLog([&](const CsvHeaderFn& h, const CsvRowFn& r) { StreamCsvPieces(read, piece, "p.csv", h, r); });
      EXPECT_EQ(pieces, whole) << "piece " << piece << " of " << ::testing::PrintToString(text);
    }
  }
}

// StreamCsvFile reads in pieces too, with the file's checks: rows as ReadCsv's, a FIFO refused.
TEST(Csv, StreamCsvFileEqualsReadCsv) {
  testing::TempDir t;
  std::string text = "user_id,item_id\n";
  for (int i = 0; i < 300000; ++i) text += "u" + std::to_string(i % 977) + ",\"i," + std::to_string(i) + "\"\n";
  WriteFileAtomic(t.path() / "big.csv", text);  // about 7 MB: more than one piece
  const CsvTable whole = ReadCsv(t.path() / "big.csv");
  int64_t rows = 0;
  bool same = true;
  StreamCsvFile(
      t.path() / "big.csv", [&](std::vector<std::string>& h) { same = same && h == whole.header; },
      [&](std::vector<std::string>& r, int64_t line) {
        same = same && r == whole.rows[size_t(rows)] && line == whole.lines[size_t(rows)];
        ++rows;
      });
  EXPECT_TRUE(same);
  EXPECT_EQ(rows, 300000);
  ASSERT_EQ(::mkfifo((t.path() / "fifo.csv").c_str(), 0600), 0);
  EXPECT_THROW(StreamCsvFile(
                   t.path() / "fifo.csv", [](std::vector<std::string>&) {}, [](std::vector<std::string>&, int64_t) {}),
               InputError);
}

TEST(Csv, EscapeRoundTrip) {
  std::vector<std::string> f{"plain", "a,b", "q\"q", "multi\nline", ""};
  CsvTable t = ParseCsv("h1,h2,h3,h4,h5\n" + CsvLine(f), "r.csv");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0], f);
}

// Blocks formatted by several workers land in row order, across block and round boundaries.
TEST(Csv, LinesWrittenInParallelComeOutInOrder) {
  testing::TempDir dir;
  for (int64_t count : {int64_t(0), int64_t(1), int64_t(4095), int64_t(4096), int64_t(4097), int64_t(70001)})
    for (int threads : {1, 2, 3}) {
      const auto path = dir / "out.csv";
      WriteLinesInParallel(path, "n,square\n", count, threads, [](int64_t i, std::string& out) {
        AppendCsvLine(out, {std::to_string(i), std::to_string(i * i)});
      });
      std::string expected = "n,square\n";
      for (int64_t i = 0; i < count; ++i) expected += std::to_string(i) + "," + std::to_string(i * i) + "\n";
      std::ifstream f(path, std::ios::binary);
      std::stringstream got;
      got << f.rdbuf();
      ASSERT_EQ(got.str(), expected) << count << " rows, " << threads << " threads";
    }
}

// A write that fails midway (here: the file-size limit, as a full disk would) is an IoError naming
// the file, and the partial file is gone.
TEST(Csv, AFailedStreamedWriteIsAnIoErrorAndLeavesNoFile) {
  testing::TempDir dir;
  const auto path = dir / "big.csv";
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto previous = signal(SIGXFSZ, SIG_IGN);  // the write then fails with EFBIG instead of a signal
  rlimit small = old;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string what;
  try {
    WriteLinesInParallel(path, "n\n", 200000, 2, [](int64_t i, std::string& out) { out += std::to_string(i) + "\n"; });
  } catch (const IoError& e) {
    what = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, previous);
  EXPECT_NE(what.find(path.string()), std::string::npos) << what;
  EXPECT_NE(what.find("disk full"), std::string::npos) << what;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_THROW(FileStreamWriter writer(dir / "no-such-dir" / "x.csv"), IoError);
}

}  // namespace
}  // namespace visrec
