// NumPy .npy v1.0 arrays (little-endian, C order): the numeric format of every artifact.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace visrec {

enum class DType { kF32, kF64, kU8, kI32, kI64 };

const char* DTypeName(DType d);   // "float32", ...
const char* DTypeDescr(DType d);  // "<f4", ...
size_t DTypeSize(DType d);

struct NpyHeader {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  size_t data_offset = 0;
  int64_t Count() const;
};

// Parses and checks the header: magic, version, dtype, C order, shape sane and matching file size.
NpyHeader ReadNpyHeader(const std::filesystem::path& path);

template <class T>
struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<T> data;
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t cols() const { return shape.size() < 2 ? 1 : shape[1]; }
};

template <class T>
DType DTypeOf();

template <class T>
NpyArray<T> ReadNpy(const std::filesystem::path& path);  // checks the dtype is T's

void WriteNpy(const std::filesystem::path& path, DType dtype, const std::vector<int64_t>& shape, const void* data);

// Writes rows as they come; the final row count goes into the header at Finish().
class NpyStreamWriter {
 public:
  NpyStreamWriter(const std::filesystem::path& path, DType dtype, std::vector<int64_t> row_shape);
  ~NpyStreamWriter();
  NpyStreamWriter(const NpyStreamWriter&) = delete;
  NpyStreamWriter& operator=(const NpyStreamWriter&) = delete;
  void Append(const void* rows, int64_t n);
  void Finish();  // rewrites the header, flushes, fsyncs
  int64_t rows() const { return rows_; }

 private:
  std::filesystem::path path_;
  DType dtype_;
  std::vector<int64_t> row_shape_;
  size_t row_bytes_ = 0;
  int64_t rows_ = 0;
  std::FILE* f_ = nullptr;
};

// A read-only memory map of an npy file whose header was checked (ReadNpyHeader): query-time
// lookups touch only the rows they need instead of reading whole arrays.
class MappedNpy {
 public:
  explicit MappedNpy(const std::filesystem::path& path);
  ~MappedNpy();
  MappedNpy(const MappedNpy&) = delete;
  MappedNpy& operator=(const MappedNpy&) = delete;
  const NpyHeader& header() const { return header_; }
  int64_t rows() const { return header_.shape.empty() ? 1 : header_.shape[0]; }
  int64_t cols() const { return header_.shape.size() < 2 ? 1 : header_.shape[1]; }
  template <class T>
  const T* data() const;  // ArtifactError unless the dtype is T's

 private:
  std::filesystem::path path_;
  NpyHeader header_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
};

}  // namespace visrec
