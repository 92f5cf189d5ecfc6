#include "visrec/artifact/npy.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "../test_util.h"
#include "visrec/util/errors.h"

namespace visrec {
namespace {

TEST(Npy, RoundTripEveryDtype) {
  testing::TempDir d;
  std::vector<float> f{1.5f, -2.f, 3.25f, 0.f, 7.f, 8.f};
  WriteNpy(d / "f.npy", DType::kF32, {2, 3}, f.data());
  auto rf = ReadNpy<float>(d / "f.npy");
  EXPECT_EQ(rf.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(rf.data, f);
  std::vector<double> g{1e300, -0.5};
  WriteNpy(d / "g.npy", DType::kF64, {2}, g.data());
  EXPECT_EQ(ReadNpy<double>(d / "g.npy").data, g);
  std::vector<uint8_t> u{0, 255, 7};
  WriteNpy(d / "u.npy", DType::kU8, {1, 1, 3}, u.data());
  EXPECT_EQ(ReadNpy<uint8_t>(d / "u.npy").data, u);
  std::vector<int32_t> i{-1, 2};
  WriteNpy(d / "i.npy", DType::kI32, {2}, i.data());
  EXPECT_EQ(ReadNpy<int32_t>(d / "i.npy").data, i);
  std::vector<int64_t> l{int64_t(1) << 40};
  WriteNpy(d / "l.npy", DType::kI64, {1}, l.data());
  EXPECT_EQ(ReadNpy<int64_t>(d / "l.npy").data, l);
}

TEST(Npy, HeaderIsNumpyCompatible) {
  testing::TempDir d;
  std::vector<float> f(6, 1.f);
  WriteNpy(d / "f.npy", DType::kF32, {2, 3}, f.data());
  std::string s = testing::ReadText(d / "f.npy");
  ASSERT_GT(s.size(), 128u);
  EXPECT_EQ(s.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(s[6], 1);
  EXPECT_NE(s.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), std::string::npos);
  EXPECT_EQ(s[127], '\n');  // header padded to a multiple of 64 (here 128)
  EXPECT_EQ(s.size(), 128u + 24u);
}

TEST(Npy, StreamWriterPatchesRowCount) {
  testing::TempDir d;
  NpyStreamWriter w(d / "s.npy", DType::kU8, {2, 2, 3});
  std::vector<uint8_t> row(12, 9);
  for (int i = 0; i < 5; ++i) w.Append(row.data(), 1);
  w.Finish();
  auto a = ReadNpy<uint8_t>(d / "s.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{5, 2, 2, 3}));
  EXPECT_EQ(a.data.size(), 60u);
}

class NpyCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<float> f(12, 2.f);
    WriteNpy(dir_ / "a.npy", DType::kF32, {3, 4}, f.data());
    bytes_ = testing::ReadText(dir_ / "a.npy");
  }
  void Expect(const std::string& bytes, const std::string& fragment) {
    testing::WriteText(dir_ / "b.npy", bytes);
    try {
      ReadNpy<float>(dir_ / "b.npy");
      FAIL() << "no error for: " << fragment;
    } catch (const ArtifactError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("b.npy"), std::string::npos) << "message names the file";
    }
  }
  testing::TempDir dir_;
  std::string bytes_;
};

TEST_F(NpyCorruption, Truncated) { Expect(bytes_.substr(0, bytes_.size() - 5), "truncated"); }
TEST_F(NpyCorruption, TooShortForPreamble) { Expect("\x93NUM", "shorter"); }
TEST_F(NpyCorruption, BadMagic) { Expect("XXXXXX" + bytes_.substr(6), "magic"); }
TEST_F(NpyCorruption, WrongDtype) {
  std::string s = bytes_;
  s.replace(s.find("<f4"), 3, "<i4");
  Expect(s, "dtype is int32");
}
TEST_F(NpyCorruption, AbsurdShape) {
  std::string s = bytes_;
  s.replace(s.find("(3, 4)"), 6, "(999999999999, 999999999)");
  // keep the header length identical by trimming padding
  s.erase(s.find("}") + 1, 19);
  Expect(s, "absurd shape");
}
TEST_F(NpyCorruption, FortranOrder) {
  std::string s = bytes_;
  s.replace(s.find("False"), 5, "True ");
  Expect(s, "not C order");
}
TEST_F(NpyCorruption, UnknownDtype) {
  std::string s = bytes_;
  s.replace(s.find("<f4"), 3, "<c8");
  Expect(s, "unsupported dtype");
}

}  // namespace
}  // namespace visrec
