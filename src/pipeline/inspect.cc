#include <optional>
#include <sstream>

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/contracts.h"
#include "visrec/pipeline/pipeline.h"
#include "visrec/util/errors.h"
#include "visrec/util/numfmt.h"

namespace visrec::pipeline {

namespace {
// The extract artifact whose features this artifact's visual half stands on (itself, or up the
// evaluate -> recommend -> reduce -> extract lineage); nullopt when there is none or it is gone.
std::optional<Artifact> FeatureSource(const Artifact& a) {
  if (a.stage == "extract") return a;
  static const std::pair<const char*, const char*> kUp[] = {
      {"evaluate", "recommend"}, {"recommend", "reduce"}, {"reduce", "extract"}};
  for (const auto& [stage, parent] : kUp) {
    if (a.stage != stage) continue;
    try {
      return FeatureSource(OpenParent(a, parent, parent));
    } catch (const Error&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}
// reduce: explained variance per component.
void DescribeVariance(const json& extra, std::ostringstream& s) {
  s << "explained variance (component: ratio, cumulative)\n";
  const auto& r = extra["explained_variance_ratio"];
  const auto& c = extra["cumulative_explained_variance"];
  for (size_t i = 0; i < r.size(); ++i)
    s << "  " << (i + 1) << ": " << FormatFixed(r[i].get<double>(), 4) << "  " << FormatFixed(c[i].get<double>(), 4)
      << "\n";
}

// finetune: the training history and the test summary.
void DescribeTraining(const json& x, std::ostringstream& s) {
  s << "training   best epoch " << x.value("best_epoch", json(0)).dump() << " of " << x["history"].size()
    << (x.value("stopped_early", false) ? " (stopped early)" : "") << ", dev accuracy "
    << (x["dev_accuracy"].is_number() ? FormatFixed(x["dev_accuracy"].get<double>(), 3) : std::string("-"))
    << ", test accuracy " << FormatFixed(x.value("test_accuracy", 0.0), 3) << " (" << x.value("test_accuracy_unit", "")
    << ")" << (x.value("untrained_start", false) ? "; started from an UNTRAINED model" : "") << "\n";
  s << "epochs     (epoch: train loss, train accuracy, dev accuracy, images/s)\n";
  for (const auto& e : x["history"])
    s << "  " << e["epoch"].dump() << ": " << FormatFixed(e["train_loss"].get<double>(), 4) << "  "
      << FormatFixed(e["train_accuracy"].get<double>(), 3) << "  "
      << (e["dev_accuracy"].is_number() ? FormatFixed(e["dev_accuracy"].get<double>(), 3) : std::string("-")) << "  "
      << FormatFixed(e["images_per_second"].get<double>(), 1) << "\n";
  s << "test per class (class: correct/items, most confused with)\n";
  for (const auto& c : x["per_class"])
    s << "  " << c["class"].get<std::string>() << ": " << c["correct"].dump() << "/" << c["test_items"].dump()
      << (c["most_confused_with"].is_string()
              ? ", " + c["most_confused_with"].get<std::string>() + " (" + c["most_confused_items"].dump() + ")"
              : std::string())
      << "\n";
  if (x.contains("use")) s << "use        " << x["use"].get<std::string>() << "\n";
}

// recommend: the blend, and with --blend auto the grid it was chosen from.
void DescribeBlend(const json& b, std::ostringstream& s) {
  s << "blend      " << b.value("mode", "fixed") << ": w_cf " << FormatFixed(b.value("w_cf", 0.0), 2) << ", w_visual "
    << FormatFixed(b.value("w_visual", 0.0), 2) << ", w_text " << FormatFixed(b.value("w_text", 0.0), 2) << "\n";
  if (b.contains("fallback")) s << "  (not tuned: " << b["fallback"].get<std::string>() << ")\n";
  if (b.contains("grid") && b.contains("validation")) {
    const json& v = b["validation"];
    const std::string metric = v.value("metric", "ndcg@k");
    s << "  grid on " << v.value("users", json(0)).dump() << " validation users (" << v.value("held_out", "") << ")\n";
    s << "  w_cf  w_visual  w_text  hr       ndcg\n";
    for (const auto& c : b["grid"]) {
      const bool chosen = c.value("w_cf", -1.0) == b.value("w_cf", -2.0) &&
                          c.value("w_visual", -1.0) == b.value("w_visual", -2.0) &&
                          c.value("w_text", -1.0) == b.value("w_text", -2.0);
      char buf[160];
      std::snprintf(buf, sizeof buf, "  %-5s %-9s %-7s %-8s %s%s\n", FormatFixed(c.value("w_cf", 0.0), 2).c_str(),
                    FormatFixed(c.value("w_visual", 0.0), 2).c_str(), FormatFixed(c.value("w_text", 0.0), 2).c_str(),
                    FormatFixed(c.value("hr", 0.0), 4).c_str(), FormatFixed(c.value("ndcg", 0.0), 4).c_str(),
                    chosen ? ("  <- chosen (best " + metric + ")").c_str() : "");
      s << buf;
    }
  }
}

}  // namespace

std::string UntrainedWarning(const Artifact& a) {
  auto ex = FeatureSource(a);
  std::string model;
  try {  // a warning only: an extract manifest this visrec cannot read shows in its own inspect
    if (!ex || !contract::ExtractSummary::From(ex->manifest).untrained) return "";
    model = contract::ExtractParams::From(ex->manifest).model;
  } catch (const Error&) {
    return "";
  }
  return "UNTRAINED model: the visual features come from a randomly initialised " + model +
         " (no --weights), so visual similarity is noise; use the bundled model or real weights "
         "(README, 'Pretrained weights')";
}

std::string Inspect(const std::filesystem::path& path) {
  Artifact a = OpenArtifact(path, VerifyLevel::kCheap);
  const json& m = a.manifest_json;  // shown whole
  std::ostringstream s;
  if (std::string w = UntrainedWarning(a); !w.empty()) s << "WARNING    " << w << "\n";
  s << "artifact   " << a.dir.string() << "\n";
  s << "stage      " << a.stage << " (stage version " << m["stage_version"] << ", schema " << m["schema_version"]
    << ")\n";
  s << "key        " << a.key << "\n";
  if (m.contains("tag") && m["tag"].is_string()) s << "tag        " << m["tag"].get<std::string>() << "\n";
  s << "created    " << m.value("created_utc", "?") << " by visrec " << m["producer"].value("visrec", "?") << " ("
    << m["producer"].value("git_sha", "?") << ")\n";
  s << "producer   " << m["producer"].dump() << "\n";
  try {
    if (const std::string line = contract::SummaryLine(a.manifest); !line.empty()) s << "summary    " << line << "\n";
  } catch (const Error& e) {
    s << "summary    (cannot be read: " << e.what() << ")\n";
  }
  s << "parameters\n";
  for (auto& [k, v] : m["params"].items()) s << "  " << k << " = " << v.dump() << "\n";
  s << "inputs (lineage)\n";
  for (const auto& in : a.manifest.inputs)
    s << "  " << in.role << " [" << in.kind << "] " << in.path << "  " << in.digest.substr(0, 16) << "\n";
  s << "outputs\n";
  for (const auto& o : a.manifest.outputs) {
    s << "  " << o.file << "  " << o.bytes << " bytes";
    if (!o.dtype.empty()) s << "  " << o.dtype << " " << json(o.shape).dump();
    s << "\n";
  }
  s << "counts     " << m["counts"].dump() << "\n";
  if (m["extra"].contains("explained_variance_ratio")) DescribeVariance(m["extra"], s);
  if (a.stage == "finetune" && m["extra"].contains("history")) DescribeTraining(m["extra"], s);
  if (a.stage == "recommend" && m["extra"].contains("blend") && m["extra"]["blend"].is_object())
    DescribeBlend(m["extra"]["blend"], s);
  if (m["extra"].contains("drift")) s << "drift      " << m["extra"]["drift"].dump() << "\n";
  const auto& f = a.manifest.failures;
  s << "failures   " << f.size() << "\n";
  for (size_t i = 0; i < f.size() && i < 20; ++i)
    s << "  " << f[i].id << "  " << f[i].file << "  " << f[i].reason << "\n";
  if (f.size() > 20) s << "  ... " << (f.size() - 20) << " more in manifest.json\n";
  s << "timings    " << m["timings_s"].dump() << "\n";
  return s.str();
}

}  // namespace visrec::pipeline
