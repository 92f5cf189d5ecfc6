// Round-2 red-team findings on the core readers and helpers: each test failed before its fix.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "../test_util.h"
#include "visrec/artifact/csv.h"
#include "visrec/artifact/inputs.h"
#include "visrec/util/batch_line.h"
#include "visrec/util/config_check.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/options.h"
#include "visrec/util/version.h"

namespace visrec {
namespace {

// Item 5: every double formats to digits or inf/nan; no unwritten buffer bytes.
TEST(NumberFormat, SafeForEveryDouble) {
  // 1e60 as a double is 9.99...e59: 60 integer digits, a point, 6 decimals.
  EXPECT_EQ(FormatFixed(1e60, 6).size(), 60u + 7u);
  EXPECT_EQ(FormatFixed(1e60, 6).substr(0, 6), "999999");
  EXPECT_EQ(FormatFixed(-1.7976931348623157e308, 6).size(), 1u + 309u + 7u);
  EXPECT_EQ(FormatFixed(std::numeric_limits<double>::infinity(), 6), "inf");
  EXPECT_EQ(FormatFixed(-std::numeric_limits<double>::infinity(), 2), "-inf");
  EXPECT_EQ(FormatFixed(std::nan(""), 4), "nan");
  EXPECT_EQ(FormatFixed(4.9e-324, 6), "0.000000");
  EXPECT_EQ(FormatShortest(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(FormatShortest(4.9e-324), "5e-324");
  for (double v : {1e60, 1e300, -3e200, 1e-300})
    for (char c : FormatFixed(v, 6)) EXPECT_TRUE((c >= '0' && c <= '9') || c == '.' || c == '-') << v;
}

// Item 11: one UTF-8 rule, applied at the readers.
TEST(Utf8, ValidationAndRepair) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("bad\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));      // truncated
  EXPECT_EQ(ToValidUtf8("a\xFF"
                        "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\xC3\x28\xA0\xA1\xE2\x28\xA1\xF0\x90\x28")));
}

TEST(Inputs, NonUtf8IdsAreMalformedRowsAndTitlesAreRepaired) {
  testing::TempDir d;
  testing::WriteText(d / "cat.csv", "item_id,image,title\nA,a.jpg,Caf\xE9\nB\xFF,b.jpg,x\nC,c\xFE.jpg,y\n");
  Catalog c = ReadCatalog(d / "cat.csv");
  EXPECT_EQ(c.item_ids, std::vector<std::string>{"A"});
  ASSERT_EQ(c.issues.size(), 2u);
  EXPECT_NE(c.issues[0].reason.find("not valid UTF-8"), std::string::npos);
  EXPECT_NE(c.issues[1].reason.find("image path is not valid UTF-8"), std::string::npos);
  EXPECT_EQ(c.metadata["A"]["title"], "Caf\xEF\xBF\xBD");
}

// Item 1: empty optional cells mean "absent".
TEST(Inputs, EmptyOptionalCellsMeanAbsent) {
  testing::TempDir d;
  testing::WriteText(d / "i.csv", "user_id,item_id,weight,timestamp\nu1,A,,\nu1,B,2,\nu2,A,,2024-01-02\n");
  Interactions in = ReadInteractions(d / "i.csv");
  ASSERT_EQ(in.rows.size(), 3u);
  EXPECT_TRUE(in.issues.empty());
  EXPECT_EQ(in.rows[0].weight, 1.0);
  EXPECT_FALSE(in.rows[0].has_timestamp);
  EXPECT_EQ(in.rows[1].weight, 2.0);
  EXPECT_TRUE(in.rows[2].has_timestamp);
  EXPECT_EQ(in.first_without_timestamp, 2);
  EXPECT_EQ(in.data_rows, 3);
  // Written back, an absent timestamp stays absent (not 1970).
  WriteInteractions(d / "o.csv", in.rows, true, true);
  EXPECT_EQ(ReadInteractions(d / "o.csv").first_without_timestamp, 2);
}

// Item 5: weights are bounded.
TEST(Inputs, WeightsAboveTheMaximumAreMalformed) {
  testing::TempDir d;
  testing::WriteText(d / "i.csv", "user_id,item_id,weight\nu1,A,1e60\nu1,B,1e9\nu2,A,1e10\n");
  Interactions in = ReadInteractions(d / "i.csv");
  ASSERT_EQ(in.rows.size(), 1u);
  EXPECT_EQ(in.rows[0].weight, 1e9);
  ASSERT_EQ(in.issues.size(), 2u);
  EXPECT_NE(in.issues[0].reason.find("above the maximum"), std::string::npos);
}

// Item 16: impossible dates and offsets.
TEST(Timestamp, ImpossibleDatesAndOffsetsAreRejected) {
  double t = 0;
  for (const char* bad : {"2024-02-30", "2023-02-29", "2024-04-31", "2024-01-01T00:00+25:00", "2024-01-01T00:00-19:00",
                          "2024-01-01T00:00+02:60"})
    EXPECT_FALSE(ParseTimestamp(bad, &t)) << bad;
  for (const char* good :
       {"2024-02-29", "2000-02-29", "2024-12-31", "2024-01-01T00:00+14:00", "2024-01-01T00:00-12:00"})
    EXPECT_TRUE(ParseTimestamp(good, &t)) << good;
}

// Item 7: a repeated header name is an error naming it.
TEST(Csv, DuplicateHeaderNamesAreAnError) {
  try {
    ParseCsv("item_id,image,title,title\nA,a.jpg,x,y\n", "dup.csv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dup.csv:1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'title' twice"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(ParseCsv("a,,b,\n1,2,3,4\n", "blank-names.csv"));  // unnamed columns are not names
}

// Item 2: all or most rows unusable is exit 3 naming count, examples and flag.
TEST(Inputs, UnusableShareStopsLoudly) {
  EXPECT_NO_THROW(RequireUsableShare("f.csv", 10, 5, {"line 2: x"}, 0.5));
  EXPECT_NO_THROW(RequireUsableShare("f.csv", 10, 0, {}, 0.0));
  EXPECT_THROW(RequireUsableShare("f.csv", 0, 0, {}, 0.5), InputError);  // a header and nothing else
  try {
    RequireUsableShare("f.csv", 10, 6, {"line 2: bad weight"}, 0.5);
    FAIL();
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("6 of 10"), std::string::npos) << m;
    EXPECT_NE(m.find("line 2: bad weight"), std::string::npos) << m;
    EXPECT_NE(m.find("--max-bad-rows-fraction"), std::string::npos) << m;
  }
  EXPECT_THROW(RequireUsableShare("f.csv", 4, 4, {}, 1.0), InputError);  // everything skipped, whatever the flag
}

// Item 4: the shared range check rejects NaN and inf, naming the option.
TEST(Options, CheckRangeRejectsNonFiniteAndOutOfRange) {
  EXPECT_NO_THROW(CheckRange("x: --a", 0.5, 0, 1));
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -0.1, 1.5}) {
    testing::ExpectThrowWith<UsageError>([&] { CheckRange("x: --a", bad, 0, 1); }, {"--a"});
  }
  EXPECT_THROW(CheckFinite("--b", -std::numeric_limits<double>::infinity()), UsageError);
  EXPECT_THROW(CheckAtLeast("--c", std::nan(""), 0), UsageError);
}

// Item 7: --config syntax errors name the line; unknown keys get the nearest valid name.
TEST(Config, SyntaxErrorsNameTheLine) {
  auto entries = CheckConfigSyntax(
      "# c\n[run]\ncatalog = \"a.csv\"\nk = 10 # x\nmean = [0.5, 0.5, 0.5]\nforce = true\n", "c.toml");
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].section, "run");
  EXPECT_EQ(entries[1].key, "k");
  EXPECT_EQ(entries[1].line, 4);
  const std::pair<const char*, const char*> bad[] = {{"[run]\ncatalog = \"a.csv\n", "c.toml:2"},
                                                     {"[run\n", "c.toml:1"},
                                                     {"[run]\njust words\n", "c.toml:2"},
                                                     {"[run]\nk = ten\n", "c.toml:2"},
                                                     {"[run]\nk = 1\nk = 2\n", "c.toml:3"},
                                                     {"[run]\nmean = [1, 2\n", "c.toml:2"},
                                                     {"[run]\nk = 1 2\n", "c.toml:2"}};
  for (const auto& [text, where] : bad) {
    testing::ExpectThrowWith<UsageError>([&] { CheckConfigSyntax(text, "c.toml"); }, {where});
  }
  EXPECT_EQ(NearestName("nieghbors", {"neighbors", "catalog", "k"}), "neighbors");
  EXPECT_EQ(NearestName("zzzzzzzz", {"neighbors", "catalog"}), "");
}

// Item 16: batch lines lose blanks at both ends; echoed text has no raw control bytes.
TEST(BatchLine, TrimsBothEndsAndEscapesControlBytes) {
  std::string kind, arg;
  ASSERT_TRUE(ParseBatchLine("  item  P0001 \t \r", &kind, &arg));
  EXPECT_EQ(kind, "item");
  EXPECT_EQ(arg, "P0001");
  ASSERT_TRUE(ParseBatchLine("image my photo.jpg  ", &kind, &arg));
  EXPECT_EQ(arg, "my photo.jpg");
  EXPECT_FALSE(ParseBatchLine("   # comment", &kind, &arg));
  EXPECT_FALSE(ParseBatchLine(" \t\r", &kind, &arg));
  EXPECT_EQ(EscapeControl("a\x1b[31mb\n"), "a\\x1b[31mb\\x0a");
}

// Items 9, 10, 16: only regular files are read, and none above the limit.
TEST(Files, OnlyRegularFilesWithinTheLimitAreRead) {
  testing::TempDir d;
  testing::WriteText(d / "ok.jpg", "12345");
  EXPECT_EQ(RegularFileProblem(d / "ok.jpg"), "");
  EXPECT_EQ(ReadRegularFile(d / "ok.jpg", 5), "12345");
  EXPECT_NE(RegularFileProblem(d / "ok.jpg", 4, "--max-file-mb").find("--max-file-mb"), std::string::npos);
  EXPECT_THROW(ReadRegularFile(d / "ok.jpg", 4), InputError);
  ASSERT_EQ(::mkfifo((d / "fifo.jpg").c_str(), 0644), 0);
  EXPECT_EQ(RegularFileProblem(d / "fifo.jpg"), "not a regular file (a FIFO)");
  EXPECT_THROW(ReadRegularFile(d / "fifo.jpg"), InputError);  // returns at once: no writer is needed
  EXPECT_EQ(RegularFileProblem("/dev/zero"), "not a regular file (a device)");
  EXPECT_THROW(ReadFileBytes("/dev/zero"), InputError);
  EXPECT_EQ(RegularFileProblem(d.path()), "not a regular file (a directory)");
  fs::create_symlink(d / "loop-b", d / "loop-a");
  fs::create_symlink(d / "loop-a", d / "loop-b");
  EXPECT_EQ(RegularFileProblem(d / "loop-a"), "symbolic link loop");
  EXPECT_EQ(RegularFileProblem(d / "missing.jpg"), "file not found");
}

// Item 12: kernel choices go by visrec's own CPU features, which a test can mask down.
TEST(CpuLevel, MaskOnlyRemovesFeatures) {
  const CpuFeatures real = DetectCpuFeatures();
  SetCpuLevelForTesting("avx2");
  CpuFeatures f = EffectiveCpuFeatures();
  EXPECT_FALSE(f.avx512f);
  EXPECT_FALSE(f.avx512bw);
  EXPECT_FALSE(f.avx512_bf16);
  EXPECT_EQ(f.avx2, real.avx2);
  std::string missing;
  EXPECT_FALSE(CpuCanRunBf16(f, &missing));
  EXPECT_EQ(missing, "avx512bw avx512vl avx512dq");
  SetCpuLevelForTesting("avx512");
  EXPECT_EQ(EffectiveCpuFeatures().avx512bw, real.avx512bw);
  EXPECT_FALSE(EffectiveCpuFeatures().avx512_bf16);
  SetCpuLevelForTesting("pentium");
  EXPECT_THROW(EffectiveCpuFeatures(), UsageError);
  SetCpuLevelForTesting("");
  EXPECT_EQ(EffectiveCpuFeatures().avx512f, real.avx512f);
}

}  // namespace
}  // namespace visrec
