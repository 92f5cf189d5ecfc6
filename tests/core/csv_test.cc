#include "visrec/core/csv.h"

#include <gtest/gtest.h>

#include "visrec/core/errors.h"

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

}  // namespace
}  // namespace visrec
