#include "visrec/util/fs.h"

#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "visrec/util/errors.h"

namespace visrec {

namespace {

std::string FileTypeProblem(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "not a regular file (a directory)";
  if (S_ISFIFO(mode)) return "not a regular file (a FIFO)";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "not a regular file (a device)";
  if (S_ISSOCK(mode)) return "not a regular file (a socket)";
  return "not a regular file";
}

std::string StatProblem(int err) {
  if (err == ENOENT || err == ENOTDIR) return "file not found";
  if (err == ELOOP) return "symbolic link loop";
  if (err == EACCES) return "file cannot be read (permissions)";
  return std::string("file cannot be read (") + std::strerror(err) + ")";
}

std::string SizeProblem(int64_t size, int64_t max_bytes, const char* limit_flag) {
  if (max_bytes < 0 || size <= max_bytes) return "";
  const auto mb = [](int64_t b) { return std::to_string((b + (1 << 20) - 1) >> 20); };
  return "larger than " + mb(max_bytes) + " MB (" + mb(size) + " MB" +
         (limit_flag && *limit_flag ? std::string("; raise ") + limit_flag + " to read it" : std::string()) + ")";
}

}  // namespace

std::string RegularFileProblem(const fs::path& path, int64_t max_bytes, const char* limit_flag) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return StatProblem(errno);
  if (auto why = FileTypeProblem(st.st_mode); !why.empty()) return why;
  return SizeProblem(int64_t(st.st_size), max_bytes, limit_flag);
}

int OpenRegularFileFd(const fs::path& path, std::string* why) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise block in open(2) itself.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *why = StatProblem(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !(*why = FileTypeProblem(st.st_mode)).empty()) {
    if (why->empty()) *why = StatProblem(errno);
    ::close(fd);
    return -1;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

std::string ReadRegularFile(const fs::path& path, int64_t max_bytes, const char* limit_flag) {
  std::string why;
  const int fd = OpenRegularFileFd(path, &why);
  if (fd < 0) throw InputError("cannot read '" + path.string() + "': " + why);
  struct stat st {};
  ::fstat(fd, &st);
  if (auto big = SizeProblem(int64_t(st.st_size), max_bytes, limit_flag); !big.empty()) {
    ::close(fd);
    throw InputError("cannot read '" + path.string() + "': " + big);
  }
  std::string out;
  out.reserve(size_t(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string e = ErrnoText();
      ::close(fd);
      throw InputError("error while reading '" + path.string() + "': " + e);
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
    if (max_bytes >= 0 && int64_t(out.size()) > max_bytes) {  // grew while being read
      ::close(fd);
      throw InputError("cannot read '" + path.string() +
                       "': " + SizeProblem(int64_t(out.size()), max_bytes, limit_flag));
    }
  }
  ::close(fd);
  return out;
}

std::string ReadFileBytes(const fs::path& path) { return ReadRegularFile(path); }

std::vector<std::string> ReadLines(const fs::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(ReadFileBytes(path));
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

void WriteLines(const fs::path& path, const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  WriteFileAtomic(path, s);
}

void FsyncFile(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw IoError("cannot open '" + path.string() + "' to sync it: " + ErrnoText());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw IoError("fsync of '" + path.string() + "' failed: " + ErrnoText());
}

void FsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // some file systems refuse; the rename is still atomic
  ::fsync(fd);
  ::close(fd);
}

void WriteFileAtomic(const fs::path& path, const std::string& bytes) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError("cannot create '" + tmp.string() + "': " + ErrnoText());
    size_t written = std::fwrite(bytes.data(), 1, bytes.size(), f);
    bool ok = written == bytes.size() && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    std::string why = ok ? "" : ErrnoText();
    std::fclose(f);
    if (!ok) {
      std::remove(tmp.c_str());
      throw IoError("cannot write '" + path.string() + "': " + why +
                    " (is the disk full? earlier files are untouched)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = ErrnoText();
    std::remove(tmp.c_str());
    throw IoError("cannot rename into '" + path.string() + "': " + why);
  }
  FsyncDir(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

FileStreamWriter::FileStreamWriter(fs::path path) : path_(std::move(path)) {
  f_ = std::fopen(path_.c_str(), "wb");
  if (!f_) throw IoError("cannot create '" + path_.string() + "': " + ErrnoText());
}

namespace {
// A failed writer removes what it created, and only a regular file: never a device or FIFO.
void RemovePartial(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(fs::symlink_status(path, ec))) fs::remove(path, ec);
}
}  // namespace

FileStreamWriter::~FileStreamWriter() {
  if (f_) {
    std::fclose(f_);
    RemovePartial(path_);
  }
}

void FileStreamWriter::Write(std::string_view bytes) {
  if (!f_) throw std::logic_error("FileStreamWriter::Write after Close: " + path_.string());  // a bug: exit 1
  if (std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size())
    throw IoError("cannot write '" + path_.string() + "': " + ErrnoText() +
                  " (is the disk full? earlier files are untouched)");
}

void FileStreamWriter::Close() {
  if (!f_) throw std::logic_error("FileStreamWriter::Close twice: " + path_.string());  // a bug: exit 1
  const bool ok = std::fflush(f_) == 0;
  const std::string why = ok ? "" : ErrnoText();
  const bool closed = std::fclose(f_) == 0;
  f_ = nullptr;
  if (!ok || !closed) {
    RemovePartial(path_);
    throw IoError("cannot write '" + path_.string() + "': " + (why.empty() ? ErrnoText() : why) +
                  " (is the disk full? earlier files are untouched)");
  }
}

void RemoveAllQuiet(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

void MaybeInjectFailure(const char* point) {
  const char* env = std::getenv("VISREC_FAIL_AT");
  if (env && std::strcmp(env, point) == 0)
    throw IoError(std::string("injected failure at '") + point + "' (VISREC_FAIL_AT)");
}

}  // namespace visrec
