#include "visrec/artifact/csv.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>

#include <fstream>
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
