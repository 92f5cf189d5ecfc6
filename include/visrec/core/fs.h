// File-system helpers: whole-file reads, atomic small-file writes, fsync.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace visrec {

namespace fs = std::filesystem;

std::string ReadFileBytes(const fs::path& path);  // InputError naming the path when unreadable
// One string per line (the ids.txt files of artifacts); WriteLines writes atomically, '\n' after each.
std::vector<std::string> ReadLines(const fs::path& path);
void WriteLines(const fs::path& path, const std::vector<std::string>& lines);
// Writes to a temporary file beside `path`, fsyncs it, renames it over `path`, fsyncs the directory.
void WriteFileAtomic(const fs::path& path, const std::string& bytes);
void FsyncFile(const fs::path& path);
void FsyncDir(const fs::path& dir);
// Best-effort recursive removal that never throws.
void RemoveAllQuiet(const fs::path& path);

// Test hook: when the environment variable VISREC_FAIL_AT names a point ("before-rename", ...),
// the process throws there, to simulate a crash midway through a write.
void MaybeInjectFailure(const char* point);

}  // namespace visrec
