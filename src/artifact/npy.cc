#include "visrec/artifact/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "visrec/util/errors.h"

namespace visrec {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kHeaderBytes = 128;  // fixed, so a streamed file's header can be rewritten in place
// Refuse shapes whose byte size cannot be real; the file-size check catches the rest.
constexpr int64_t kMaxElements = int64_t(1) << 40;

std::string HeaderText(DType dtype, const std::vector<int64_t>& shape) {
  std::string s = "{'descr': '";
  s += DTypeDescr(dtype);
  s += "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) s += ",";
    if (i + 1 < shape.size()) s += " ";
  }
  s += "), }";
  return s;
}

std::string EncodeHeader(DType dtype, const std::vector<int64_t>& shape) {
  std::string dict = HeaderText(dtype, shape);
  size_t total = kHeaderBytes;
  while (10 + dict.size() + 1 > total) total += 64;
  std::string out(kMagic, 6);
  out.push_back('\x01');
  out.push_back('\x00');
  uint16_t hlen = uint16_t(total - 10);
  out.push_back(char(hlen & 0xff));
  out.push_back(char(hlen >> 8));
  out += dict;
  out.append(total - 1 - out.size(), ' ');
  out.push_back('\n');
  return out;
}

[[noreturn]] void Bad(const std::filesystem::path& p, const std::string& why) {
  throw ArtifactError("'" + p.string() + "' is not a valid .npy array: " + why +
                      "; rerun the stage that wrote it (with --force) to regenerate it");
}

}  // namespace

const char* DTypeName(DType d) {
  switch (d) {
    case DType::kF32: return "float32";
    case DType::kF64: return "float64";
    case DType::kU8: return "uint8";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
  }
  return "?";
}
const char* DTypeDescr(DType d) {
  switch (d) {
    case DType::kF32: return "<f4";
    case DType::kF64: return "<f8";
    case DType::kU8: return "|u1";
    case DType::kI32: return "<i4";
    case DType::kI64: return "<i8";
  }
  return "?";
}
size_t DTypeSize(DType d) {
  switch (d) {
    case DType::kF32: return 4;
    case DType::kF64: return 8;
    case DType::kU8: return 1;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
  }
  return 0;
}

template <>
DType DTypeOf<float>() {
  return DType::kF32;
}
template <>
DType DTypeOf<double>() {
  return DType::kF64;
}
template <>
DType DTypeOf<uint8_t>() {
  return DType::kU8;
}
template <>
DType DTypeOf<int32_t>() {
  return DType::kI32;
}
template <>
DType DTypeOf<int64_t>() {
  return DType::kI64;
}

int64_t NpyHeader::Count() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

NpyHeader ReadNpyHeader(const std::filesystem::path& path) {
  std::error_code ec;
  auto file_size = std::filesystem::file_size(path, ec);
  if (ec) Bad(path, "cannot stat: " + ec.message());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) Bad(path, "cannot open: " + ErrnoText());
  unsigned char pre[10];
  if (std::fread(pre, 1, 10, f.get()) != 10) Bad(path, "file shorter than the npy preamble");
  if (std::memcmp(pre, kMagic, 6) != 0) Bad(path, "missing \\x93NUMPY magic");
  if (pre[6] != 1 || pre[7] != 0)
    Bad(path, "npy format version " + std::to_string(pre[6]) + "." + std::to_string(pre[7]) +
                  " (only 1.0 is written and read)");
  size_t hlen = size_t(pre[8]) | (size_t(pre[9]) << 8);
  if (10 + hlen > file_size) Bad(path, "header length runs past the end of the file");
  std::string h(hlen, '\0');
  if (std::fread(h.data(), 1, hlen, f.get()) != hlen) Bad(path, "truncated header");
  NpyHeader out;
  out.data_offset = 10 + hlen;

  auto descr_pos = h.find("'descr':");
  if (descr_pos == std::string::npos) Bad(path, "header has no 'descr'");
  auto q1 = h.find('\'', descr_pos + 8);
  auto q2 = q1 == std::string::npos ? q1 : h.find('\'', q1 + 1);
  if (q2 == std::string::npos) Bad(path, "malformed 'descr'");
  std::string descr = h.substr(q1 + 1, q2 - q1 - 1);
  bool found = false;
  for (DType d : {DType::kF32, DType::kF64, DType::kU8, DType::kI32, DType::kI64})
    if (descr == DTypeDescr(d) || (d == DType::kU8 && descr == "<u1")) {
      out.dtype = d;
      found = true;
    }
  if (!found) Bad(path, "unsupported dtype '" + descr + "'");
  if (h.find("'fortran_order': False") == std::string::npos) Bad(path, "not C order");
  auto sp = h.find("'shape':");
  auto lp = sp == std::string::npos ? sp : h.find('(', sp);
  auto rp = lp == std::string::npos ? lp : h.find(')', lp);
  if (rp == std::string::npos) Bad(path, "malformed 'shape'");
  std::string dims = h.substr(lp + 1, rp - lp - 1);
  size_t i = 0;
  while (i < dims.size()) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    size_t j = i;
    while (j < dims.size() && dims[j] >= '0' && dims[j] <= '9') ++j;
    if (j == i || j - i > 15) Bad(path, "malformed dimension in shape (" + dims + ")");
    out.shape.push_back(std::stoll(dims.substr(i, j - i)));
    i = j;
  }
  if (out.shape.size() > 8) Bad(path, "absurd rank " + std::to_string(out.shape.size()));
  int64_t count = 1;
  for (auto d : out.shape) {
    if (d < 0 || (d > 0 && count > kMaxElements / d)) Bad(path, "absurd shape (" + dims + ")");
    count *= d;
  }
  uint64_t expected = out.data_offset + uint64_t(count) * DTypeSize(out.dtype);
  if (expected != file_size)
    Bad(path, "shape (" + dims + ") of " + DTypeName(out.dtype) + " needs " + std::to_string(expected) +
                  " bytes but the file has " + std::to_string(file_size) + " (truncated or padded)");
  return out;
}

template <class T>
NpyArray<T> ReadNpy(const std::filesystem::path& path) {
  NpyHeader h = ReadNpyHeader(path);
  if (h.dtype != DTypeOf<T>())
    Bad(path, std::string("dtype is ") + DTypeName(h.dtype) + ", expected " + DTypeName(DTypeOf<T>()));
  NpyArray<T> a;
  a.shape = h.shape;
  a.data.resize(size_t(h.Count()));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f || std::fseek(f.get(), long(h.data_offset), SEEK_SET) != 0) Bad(path, "cannot seek to data");
  if (!a.data.empty() && std::fread(a.data.data(), sizeof(T), a.data.size(), f.get()) != a.data.size())
    Bad(path, "short read");
  return a;
}
template NpyArray<float> ReadNpy<float>(const std::filesystem::path&);
template NpyArray<double> ReadNpy<double>(const std::filesystem::path&);
template NpyArray<uint8_t> ReadNpy<uint8_t>(const std::filesystem::path&);
template NpyArray<int32_t> ReadNpy<int32_t>(const std::filesystem::path&);
template NpyArray<int64_t> ReadNpy<int64_t>(const std::filesystem::path&);

void WriteNpy(const std::filesystem::path& path, DType dtype, const std::vector<int64_t>& shape, const void* data) {
  std::vector<int64_t> row_shape(shape.begin() + (shape.empty() ? 0 : 1), shape.end());
  NpyStreamWriter w(path, dtype, row_shape);
  w.Append(data, shape.empty() ? 1 : shape[0]);
  w.Finish();
}

NpyStreamWriter::NpyStreamWriter(const std::filesystem::path& path, DType dtype, std::vector<int64_t> row_shape)
    : path_(path), dtype_(dtype), row_shape_(std::move(row_shape)) {
  row_bytes_ = DTypeSize(dtype_);
  for (auto d : row_shape_) row_bytes_ *= size_t(d);
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) throw IoError("cannot create '" + path.string() + "': " + ErrnoText());
  std::vector<int64_t> shape{0};
  shape.insert(shape.end(), row_shape_.begin(), row_shape_.end());
  std::string header = EncodeHeader(dtype_, shape);
  if (std::fwrite(header.data(), 1, header.size(), f_) != header.size())
    throw IoError("cannot write '" + path.string() + "': " + ErrnoText());
}

NpyStreamWriter::~NpyStreamWriter() {
  if (f_) std::fclose(f_);
}

void NpyStreamWriter::Append(const void* rows, int64_t n) {
  size_t bytes = row_bytes_ * size_t(n);
  if (bytes && std::fwrite(rows, 1, bytes, f_) != bytes)
    throw IoError("cannot write '" + path_.string() + "': " + ErrnoText() + " (is the disk full?)");
  rows_ += n;
}

void NpyStreamWriter::Finish() {
  std::vector<int64_t> shape{rows_};
  shape.insert(shape.end(), row_shape_.begin(), row_shape_.end());
  std::string header = EncodeHeader(dtype_, shape);
  // The header was written with 0 rows at the same fixed size; a rank <= 6 shape always fits.
  if (header.size() != kHeaderBytes) throw IoError("npy header of '" + path_.string() + "' overflowed");
  bool ok = std::fseek(f_, 0, SEEK_SET) == 0 && std::fwrite(header.data(), 1, header.size(), f_) == header.size() &&
            std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
  std::string why = ok ? "" : ErrnoText();
  std::fclose(f_);
  f_ = nullptr;
  if (!ok) throw IoError("cannot finish '" + path_.string() + "': " + why + " (is the disk full?)");
}

MappedNpy::MappedNpy(const std::filesystem::path& path) : path_(path), header_(ReadNpyHeader(path)) {
  map_bytes_ = header_.data_offset + size_t(header_.Count()) * DTypeSize(header_.dtype);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Bad(path, "cannot open: " + ErrnoText());
  void* m = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) Bad(path, "cannot map: " + ErrnoText());
  map_ = m;
}

MappedNpy::~MappedNpy() {
  if (map_) ::munmap(map_, map_bytes_);
}

template <class T>
const T* MappedNpy::data() const {
  if (header_.dtype != DTypeOf<T>())
    Bad(path_, std::string("dtype is ") + DTypeName(header_.dtype) + ", expected " + DTypeName(DTypeOf<T>()));
  return reinterpret_cast<const T*>(static_cast<const char*>(map_) + header_.data_offset);
}

template const float* MappedNpy::data<float>() const;
template const double* MappedNpy::data<double>() const;
template const int32_t* MappedNpy::data<int32_t>() const;
template const int64_t* MappedNpy::data<int64_t>() const;
template const uint8_t* MappedNpy::data<uint8_t>() const;

}  // namespace visrec
