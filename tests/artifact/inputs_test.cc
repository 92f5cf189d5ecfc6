#include "visrec/artifact/inputs.h"

#include <gtest/gtest.h>

#include "../test_util.h"
#include "visrec/util/errors.h"

namespace visrec {
namespace {

TEST(Timestamp, IsoAndUnix) {
  double t = 0;
  ASSERT_TRUE(ParseTimestamp("1970-01-01", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseTimestamp("2024-03-01T12:30:15Z", &t));
  EXPECT_EQ(t, 1709296215);
  ASSERT_TRUE(ParseTimestamp("2024-03-01T14:30:15+02:00", &t));
  EXPECT_EQ(t, 1709296215);
  ASSERT_TRUE(ParseTimestamp("2024-03-01 12:30", &t));
  EXPECT_EQ(t, 1709296200);
  ASSERT_TRUE(ParseTimestamp("2024-03-01T12:30:15.250Z", &t));
  EXPECT_DOUBLE_EQ(t, 1709296215.25);
  ASSERT_TRUE(ParseTimestamp("1709296215", &t));
  EXPECT_EQ(t, 1709296215);
  for (const char* bad : {"", "yesterday", "2024-13-01", "2024-03-01T25:00", "2024-03-01Tx", "2024-03-01Z5"})
    EXPECT_FALSE(ParseTimestamp(bad, &t)) << bad;
}

TEST(Catalog, ReadsMetadataResolvesPathsSkipsBadRows) {
  testing::TempDir d;
  testing::WriteText(d / "cat.csv",
                     "item_id,image,title\n"
                     "B,b1.jpg,\"Blue, striped\"\n"
                     "A,/abs/a.jpg,Red\n"
                     "B,b2.jpg,ignored for metadata\n"
                     "B,b1.jpg,duplicate photo row\n"
                     ",x.jpg,no id\n"
                     "C,c.jpg\n");
  Catalog c = ReadCatalog(d / "cat.csv");
  EXPECT_EQ(c.item_ids, (std::vector<std::string>{"A", "B"}));
  ASSERT_EQ(c.photos.size(), 3u);
  EXPECT_EQ(c.photos[0].resolved, d / "b1.jpg");
  EXPECT_EQ(c.photos[1].resolved, std::filesystem::path("/abs/a.jpg"));
  EXPECT_EQ(c.metadata["B"]["title"], "Blue, striped");
  EXPECT_EQ(c.duplicate_photo_rows, 1);
  ASSERT_EQ(c.issues.size(), 2u);
  EXPECT_EQ(c.issues[0].line, 6);
  EXPECT_EQ(c.issues[1].line, 7);
  try {
    ReadCatalog(d / "cat.csv", BadRowPolicy::kFail);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cat.csv:6"), std::string::npos) << e.what();
  }
}

TEST(Catalog, MissingColumnAndMissingFile) {
  testing::TempDir d;
  testing::WriteText(d / "cat.csv", "item_id,photo\nA,a.jpg\n");
  try {
    ReadCatalog(d / "cat.csv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'image'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ReadCatalog(d / "none.csv"), InputError);
}

TEST(Interactions, WeightsTimestampsAndBadRows) {
  testing::TempDir d;
  testing::WriteText(d / "i.csv",
                     "user_id,item_id,weight,timestamp\r\n"
                     "u1,A,2,2024-01-01\r\n"
                     "u1,B,x,2024-01-02\r\n"
                     "u2,A,1,not-a-date\r\n"
                     "u2,B,-1,2024-01-02\r\n"
                     "u3,C,0.5,1700000000\r\n");
  Interactions in = ReadInteractions(d / "i.csv");
  EXPECT_TRUE(in.has_weight);
  EXPECT_TRUE(in.has_timestamp);
  ASSERT_EQ(in.rows.size(), 2u);
  EXPECT_EQ(in.rows[0].weight, 2);
  EXPECT_EQ(in.rows[1].timestamp, 1700000000);
  ASSERT_EQ(in.issues.size(), 3u);
  EXPECT_EQ(in.issues[0].line, 3);
  EXPECT_THROW(ReadInteractions(d / "i.csv", BadRowPolicy::kFail), InputError);
}

TEST(Interactions, StreamingGivesTheSameRowsAndIssuesAndKeepsNone) {
  testing::TempDir d;
  testing::WriteText(d / "i.csv",
                     "\xEF\xBB\xBF user_id ,item_id,weight,timestamp\r\n"
                     "u1,A,2,2024-01-01\r\n"
                     "\r\n"
                     "u1,B,x,2024-01-02\r\n"
                     "\"u,2\",\"B\"\"q\",1,1700000000\r\n"
                     "u2,B,1\r\n"
                     "u3,C,0.5,1700000001");
  const Interactions read = ReadInteractions(d / "i.csv");
  std::vector<Interaction> streamed;
  const Interactions summary =
      StreamInteractions(d / "i.csv", BadRowPolicy::kSkip, [&](Interaction& x) { streamed.push_back(std::move(x)); });
  EXPECT_TRUE(summary.rows.empty());
  EXPECT_EQ(summary.accepted, 3);
  EXPECT_EQ(read.accepted, 3);
  ASSERT_EQ(streamed.size(), read.rows.size());
  for (size_t r = 0; r < streamed.size(); ++r) {
    EXPECT_EQ(streamed[r].user_id, read.rows[r].user_id);
    EXPECT_EQ(streamed[r].item_id, read.rows[r].item_id);
    EXPECT_EQ(streamed[r].weight, read.rows[r].weight);
    EXPECT_EQ(streamed[r].timestamp, read.rows[r].timestamp);
    EXPECT_EQ(streamed[r].line, read.rows[r].line);
  }
  EXPECT_EQ(streamed[1].user_id, "u,2");
  EXPECT_EQ(streamed[1].item_id, "B\"q");
  EXPECT_EQ(streamed[2].line, 7);  // the blank line counts
  ASSERT_EQ(summary.issues.size(), 2u);
  EXPECT_EQ(summary.issues[0].line, 4);
  EXPECT_EQ(summary.issues[1].line, 6);
  EXPECT_THROW(StreamInteractions(d / "i.csv", BadRowPolicy::kFail, [](Interaction&) {}), InputError);
  testing::WriteText(d / "h.csv", "user,item\nu1,A\n");
  EXPECT_THROW(StreamInteractions(d / "h.csv", BadRowPolicy::kSkip, [](Interaction&) {}), InputError);
}

TEST(Interactions, WriteReadRoundTrip) {
  testing::TempDir d;
  std::vector<Interaction> rows{{"u,1", "A", 1.5, 1700000000.0, 0, true}, {"u2", "B\"x", 1, 5, 0, true}};
  WriteInteractions(d / "o.csv", rows, true, true);
  Interactions in = ReadInteractions(d / "o.csv");
  ASSERT_EQ(in.rows.size(), 2u);
  EXPECT_EQ(in.rows[0].user_id, "u,1");
  EXPECT_EQ(in.rows[1].item_id, "B\"x");
  EXPECT_EQ(in.rows[0].weight, 1.5);
  EXPECT_EQ(in.rows[0].timestamp, 1700000000.0);
}

}  // namespace
}  // namespace visrec
