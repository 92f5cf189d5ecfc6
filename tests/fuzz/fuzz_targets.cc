// libFuzzer targets for the readers that take untrusted bytes: CSV (catalog and interactions),
// npy headers, artifact manifests, --config files, `query --batch` lines and torch.save weights files. Built and run by tools/ci/fuzz.sh (clang -fsanitize=fuzzer).
// A target may throw visrec::Error (a clean, reported rejection); anything else is a finding.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <string>

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/checkpoint.h"
#include "visrec/artifact/csv.h"
#include "visrec/artifact/inputs.h"
#include "visrec/artifact/npy.h"
#include "visrec/util/batch_line.h"
#include "visrec/util/config_check.h"
#include "visrec/util/errors.h"
#include "visrec/util/numfmt.h"

namespace {

std::filesystem::path Scratch() {
  static const std::filesystem::path dir = [] {
    auto p = std::filesystem::temp_directory_path() / ("visrec-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p;
  }();
  return dir;
}

void Write(const std::filesystem::path& p, const uint8_t* data, size_t size) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace visrec;
#if defined(VISREC_FUZZ_CSV)
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    CsvTable t = ParseCsv(text, "fuzz.csv");
    for (size_t r = 0; r < t.rows.size(); ++r) (void)t.rows[r].size();
  } catch (const Error&) {}
  // Differential: a parse in pieces (as StreamCsvFile reads) must report exactly what the whole
  // text gives, wherever the cuts fall.
  {
    const auto log_of = [](const std::function<void(const CsvHeaderFn&, const CsvRowFn&)>& parse) {
      std::string log;
      try {
        parse([&](std::vector<std::string>& h) { log += "H" + CsvLine(h); },
              [&](std::vector<std::string>& r, int64_t line) { log += std::to_string(line) + ":" + CsvLine(r); });
      } catch (const Error& e) {
        log += std::string("E ") + e.what();
      }
      return log;
    };
    const size_t piece = size == 0 ? 1 : 1 + data[0] % 7;
    size_t pos = 0;
    const CsvReadFn read = [&](char* out, size_t n) {
      const size_t k = std::min(std::min(n, piece), text.size() - pos);
      std::memcpy(out, text.data() + pos, k);
      pos += k;
      return k;
    };
    const std::string whole = log_of([&](const CsvHeaderFn& h, const CsvRowFn& r) { StreamCsv(text, "f.csv", h, r); });
    const std::string pieces =
        log_of([&](const CsvHeaderFn& h, const CsvRowFn& r) { StreamCsvPieces(read, piece, "f.csv", h, r); });
    if (whole != pieces) __builtin_trap();
  }
  Write(Scratch() / "catalog.csv", data, size);
  try {
    ReadCatalog(Scratch() / "catalog.csv");
  } catch (const Error&) {}
  Write(Scratch() / "interactions.csv", data, size);
  try {
    ReadInteractions(Scratch() / "interactions.csv");
  } catch (const Error&) {}
#elif defined(VISREC_FUZZ_NPY)
  Write(Scratch() / "a.npy", data, size);
  try {
    NpyHeader h = ReadNpyHeader(Scratch() / "a.npy");
    if (h.dtype == DType::kF32 && h.Count() < (1 << 20)) ReadNpy<float>(Scratch() / "a.npy");
  } catch (const Error&) {}
#elif defined(VISREC_FUZZ_MANIFEST)
  std::filesystem::path dir = Scratch() / "artifact";
  std::filesystem::create_directories(dir);
  Write(dir / "manifest.json", data, size);
  try {
    OpenArtifact(dir, VerifyLevel::kFull);
  } catch (const Error&) {}
#elif defined(VISREC_FUZZ_CONFIG)
  // The strict --config reader: a clean UsageError or a list of entries, each with a sane line.
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    for (const ConfigEntry& e : CheckConfigSyntax(text, "fuzz.toml"))
      if (e.line < 1 || e.key.empty()) __builtin_trap();
  } catch (const Error&) {}
  (void)NearestName(text.substr(0, 64), {"neighbors", "catalog", "half-life-days"});
#elif defined(VISREC_FUZZ_BATCH)
  // `query --batch` lines: the parsed kind and argument never carry blanks at their ends, and the
  // escaped echo holds no control byte.
  std::string line(reinterpret_cast<const char*>(data), size);
  std::string kind, arg;
  if (ParseBatchLine(line, &kind, &arg)) {
    if (kind.empty() || (!arg.empty() && (arg.back() == ' ' || arg.back() == '\t' || arg.front() == ' ')))
      __builtin_trap();
  }
  for (unsigned char c : EscapeControl(line))
    if (c < 0x20 || c == 0x7f) __builtin_trap();
  (void)ToValidUtf8(line);
  if (!IsValidUtf8(ToValidUtf8(line))) __builtin_trap();
#elif defined(VISREC_FUZZ_CHECKPOINT)
  // torch.save files (--weights): a clean InputError or tensors whose views lie inside their storages.
  try {
    Checkpoint c = ReadTorchCheckpoint(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pth");
    for (const auto& t : c.tensors) {
      if (t.storage >= c.storages.size() || t.sizes.size() != t.strides.size()) __builtin_trap();
      const CheckpointStorage& st = c.storages[t.storage];
      if (int64_t(st.bytes.size()) != st.numel * ElementSize(st.type)) __builtin_trap();
      int64_t last = t.offset;
      bool empty = false;
      for (size_t d = 0; d < t.sizes.size(); ++d) {
        if (t.sizes[d] == 0)
          empty = true;
        else
          last += (t.sizes[d] - 1) * t.strides[d];
      }
      if (!empty && last >= st.numel) __builtin_trap();
    }
  } catch (const Error&) {}
#else
#error \
    "define one of VISREC_FUZZ_CSV, VISREC_FUZZ_NPY, VISREC_FUZZ_MANIFEST, VISREC_FUZZ_CONFIG, VISREC_FUZZ_BATCH, VISREC_FUZZ_CHECKPOINT"
#endif
  return 0;
}
