// File-system helpers: whole-file reads, atomic small-file writes, fsync.
#pragma once
#include <cstdio>
#include <string_view>
#include <filesystem>
#include <string>
#include <vector>

namespace visrec {

namespace fs = std::filesystem;

std::string ReadFileBytes(const fs::path& path);  // InputError naming the path when unreadable

// Why `path` cannot be read as a photo or input file, or "" when it can: only regular files are
// read (a FIFO would block forever, /dev/zero never ends), and none above `max_bytes` (< 0: no
// limit), decided from stat() before a byte is read. Reasons: "file not found", "not a regular
// file (a directory)", "not a regular file (a FIFO)", "symbolic link loop", "larger than ...".
std::string RegularFileProblem(const fs::path& path, int64_t max_bytes = -1, const char* limit_flag = "");
// Reads a regular file whole; any problem above (or a read error) is an InputError naming the path.
std::string ReadRegularFile(const fs::path& path, int64_t max_bytes = -1, const char* limit_flag = "");
// open(2) of a regular file for reading, without blocking on FIFOs; -1 with the reason in *why.
int OpenRegularFileFd(const fs::path& path, std::string* why);
// One string per line (the ids.txt files of artifacts); WriteLines writes atomically, '\n' after each.
std::vector<std::string> ReadLines(const fs::path& path);
void WriteLines(const fs::path& path, const std::vector<std::string>& lines);
// Writes to a temporary file beside `path`, fsyncs it, renames it over `path`, fsyncs the directory.
void WriteFileAtomic(const fs::path& path, const std::string& bytes);
void FsyncFile(const fs::path& path);
// A new file written piece by piece, for outputs too large to hold as one string (inside an
// artifact's staging directory, whose commit fsyncs and renames). Any failure is an IoError naming
// the file; an unclosed writer removes its partial file.
class FileStreamWriter {
 public:
  explicit FileStreamWriter(fs::path path);
  ~FileStreamWriter();
  FileStreamWriter(const FileStreamWriter&) = delete;
  FileStreamWriter& operator=(const FileStreamWriter&) = delete;
  void Write(std::string_view bytes);
  void Close();  // flush; throws IoError when anything failed

 private:
  fs::path path_;
  std::FILE* f_ = nullptr;
};
void FsyncDir(const fs::path& dir);
// Best-effort recursive removal that never throws.
void RemoveAllQuiet(const fs::path& path);

// Test hook: when the environment variable VISREC_FAIL_AT names a point ("before-rename", ...),
// the process throws there, to simulate a crash midway through a write.
void MaybeInjectFailure(const char* point);

}  // namespace visrec
