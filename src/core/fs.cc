#include "visrec/core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "visrec/core/errors.h"

namespace visrec {

std::string ReadFileBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open '" + path.string() + "': " + ErrnoText());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError("error while reading '" + path.string() + "'");
  return ss.str();
}

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
