#include "visrec/artifact/contracts.h"
#include "visrec/pipeline/compare.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/csv.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/options.h"

namespace visrec::pipeline {
namespace fs = std::filesystem;
using nlohmann::json;

void CompareOptions::Validate() const {
  if (runs.empty()) throw UsageError("compare: name at least one evaluate artifact, report.json or workdir");
  if (baseline < 1 || baseline > int(runs.size()))
    throw UsageError("compare: --baseline must be between 1 and the number of runs (" + std::to_string(runs.size()) +
                     ")");
  if (resamples < 100 || resamples > 1000000) throw UsageError("compare: --resamples must be in [100, 1000000]");
  CheckRange("compare: --confidence", confidence, 0.5, 0.999);
}

std::vector<Interval> PairedBootstrap(const std::vector<std::vector<double>>& diffs, int resamples, uint64_t seed,
                                      double confidence) {
  std::vector<Interval> out(diffs.size());
  if (diffs.empty()) return out;
  const size_t n = diffs[0].size();
  for (const auto& d : diffs)
    if (d.size() != n) throw std::logic_error("PairedBootstrap: metrics with different user counts");
  if (n == 0) return out;
  std::vector<std::vector<double>> means(diffs.size(), std::vector<double>(size_t(resamples)));
  std::mt19937_64 g(seed);
  std::vector<double> sum(diffs.size());
  for (int b = 0; b < resamples; ++b) {
    std::fill(sum.begin(), sum.end(), 0.0);
    for (size_t q = 0; q < n; ++q) {
      const size_t u = size_t(g() % n);
      for (size_t m = 0; m < diffs.size(); ++m) sum[m] += diffs[m][u];
    }
    for (size_t m = 0; m < diffs.size(); ++m) means[m][size_t(b)] = sum[m] / double(n);
  }
  const double tail = (1 - confidence) / 2;
  const size_t lo = size_t(std::floor(double(resamples) * tail));
  const size_t hi = size_t(std::ceil(double(resamples) * (1 - tail))) - 1;
  for (size_t m = 0; m < diffs.size(); ++m) {
    double total = 0;
    for (double x : diffs[m]) total += x;
    std::sort(means[m].begin(), means[m].end());
    out[m] = {total / double(n), means[m][lo], means[m][std::min(hi, size_t(resamples) - 1)]};
  }
  return out;
}

Interval PairedBootstrap(const std::vector<double>& diffs, int resamples, uint64_t seed, double confidence) {
  std::vector<std::vector<double>> one;
  one.push_back(diffs);
  return PairedBootstrap(one, resamples, seed, confidence)[0];
}

namespace {

Artifact OpenEvaluate(const fs::path& path) {
  std::error_code ec;
  fs::path p = path;
  const auto st = fs::status(p, ec);
  if (!fs::exists(st))
    throw InputError("compare: '" + path.string() +
                     "' does not exist (name an evaluate artifact, its report.json, or a workdir)");
  if (fs::is_regular_file(st) && p.filename() == "report.json") {
    p = p.parent_path();
  } else if (!fs::is_directory(st)) {
    throw InputError("compare: '" + path.string() +
                     "' is not a folder or a report.json (name an evaluate artifact, its "
                     "report.json, or a workdir)");
  }
  if (!fs::exists(p / "manifest.json", ec) && !fs::exists(p / "latest", ec)) {
    if (fs::is_directory(p / "evaluate", ec)) return OpenLatest(p, "evaluate", VerifyLevel::kFull);
    throw InputError("compare: no evaluate artifact in '" + path.string() +
                     "'; run `visrec evaluate` (or `visrec run --split`) "
                     "there first, or name an evaluate artifact");
  }
  // Full verification: report.json and per_user.csv are small, and compare believes their numbers.
  Artifact a = OpenArtifact(p, VerifyLevel::kFull);
  if (a.stage != "evaluate")
    throw ArtifactError("compare: '" + path.string() + "' is a " + a.stage +
                        " artifact; name an evaluate artifact, its "
                        "report.json, or a workdir");
  return a;
}

std::optional<Artifact> Parent(const Artifact& a, const std::string& stage, json& notes, const std::string& run) {
  try {
    return OpenParent(a, stage, stage);
  } catch (const Error& e) {
    notes.push_back(run + ": the " + stage + " artifact behind " + a.dir.string() + " cannot be read (" + e.what() +
                    "); its parameters show as '?'");
    return std::nullopt;
  }
}

std::string FileNameOfInput(const Artifact& a, const std::string& role) {
  for (const auto& in : a.manifest.InputsWithRole(role)) return fs::path(in.path).filename().string();
  return "";
}

std::string Weights(double cf, double visual, double text) {
  return FormatFixed(cf, 2) + "/" + FormatFixed(visual, 2) + "/" + FormatFixed(text, 2);
}

void AddLineageParameters(const Artifact& ev, json& p, json& notes, const std::string& run);

// What distinguishes a run: walked up evaluate -> recommend -> reduce -> extract.
json RunParameters(const Artifact& ev, json& notes, const std::string& run) {
  json p;
  p["k"] = contract::EvaluateParams::From(ev.manifest).k;
  // The split: the test file's artifact when it came from one (run --split), else its file name.
  for (const auto& in : ev.manifest.InputsWithRole("test")) {
    const fs::path test = ResolveRecordedPath(ev, in.path, "file");
    std::string split = test.filename().string();
    try {
      std::error_code ec;
      if (fs::exists(test.parent_path() / "manifest.json", ec)) {
        Artifact s = OpenArtifact(test.parent_path());
        if (s.stage == "split") split = contract::SplitParams::From(s.manifest).method;
      }
    } catch (const Error&) {}
    p["split"] = split;
    p["test_digest"] = in.digest;
  }
  if (std::string f = FileNameOfInput(ev, "recommendations"); !f.empty()) {
    p["model"] = "lists from " + f;  // evaluate --recommendations: no visrec lineage to walk
    p["blend"] = "-";
    return p;
  }
  try {
    AddLineageParameters(ev, p, notes, run);
  } catch (const Error& e) {  // an older or edited artifact up the lineage: what it cannot say shows as '?'
    notes.push_back(run + ": " + e.what() + "; its remaining parameters show as '?'");
  }
  return p;
}

// The recommend, reduce and extract parameters behind an evaluate artifact, into p.
void AddLineageParameters(const Artifact& ev, json& p, json& notes, const std::string& run) {
  auto rec = Parent(ev, "recommend", notes, run);
  if (!rec) return;
  const contract::RecommendParams rp = contract::RecommendParams::From(rec->manifest);
  p["blend"] = rp.blend.mode + " " + Weights(rp.blend.w_cf, rp.blend.w_visual, rp.blend.w_text);
  p["neighbors"] = rp.neighbors;
  p["half_life_days"] = rp.half_life_days;
  if (rp.visual_index) p["visual_index"] = *rp.visual_index;
  auto red = Parent(*rec, "reduce", notes, run);
  if (!red) return;
  const contract::ReduceParams dp = contract::ReduceParams::From(red->manifest);
  if (dp.mode != "apply") {
    p["reduce"] = dp.Describe();
  } else {  // the fit it applied
    std::string fit = "?";
    try {
      fit = contract::ReduceParams::From(OpenParent(*red, "pca_model", "reduce").manifest).Describe();
    } catch (const Error& e) {
      notes.push_back(run + ": the PCA fit applied by " + red->dir.string() + " cannot be read (" + e.what() + ")");
    }
    p["reduce"] = "apply " + fit;
  }
  auto ex = Parent(*red, "extract", notes, run);
  if (!ex) return;
  const contract::ExtractParams ep = contract::ExtractParams::From(ex->manifest);
  std::string model = ep.model;
  if (std::string f = FileNameOfInput(*ex, "model"); !f.empty()) model = f;
  if (std::string f = FileNameOfInput(*ex, "weights"); !f.empty()) model += " + " + f;
  if (contract::ExtractSummary::From(ex->manifest).untrained) model += " (UNTRAINED)";
  p["model"] = model;
  p["precision"] = ep.precision;
}

// per_user.csv as user -> (hit@K, ndcg@K) columns.
struct PerUser {
  std::vector<int> ks;
  std::map<std::string, std::vector<double>> rows;  // user -> hit@k..., ndcg@k... in ks order
};
std::optional<PerUser> ReadPerUser(const Artifact& ev) {
  if (!ev.manifest.HasOutput("per_user.csv")) return std::nullopt;
  CsvTable t = ReadCsv(ev.File("per_user.csv"));
  PerUser pu;
  std::vector<size_t> hit_col, ndcg_col;
  for (size_t c = 0; c < t.header.size(); ++c)
    if (t.header[c].rfind("hit@", 0) == 0) {
      const int k = std::atoi(t.header[c].c_str() + 4);
      for (size_t d = 0; d < t.header.size(); ++d)
        if (t.header[d] == "ndcg@" + std::to_string(k)) {
          pu.ks.push_back(k);
          hit_col.push_back(c);
          ndcg_col.push_back(d);
        }
    }
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    std::vector<double> v;
    for (size_t q = 0; q < pu.ks.size(); ++q) {
      if (hit_col[q] >= row.size() || ndcg_col[q] >= row.size())
        throw ArtifactError(ev.File("per_user.csv").string() + ": line " + std::to_string(t.lines[r]) + " is short");
      v.push_back(std::strtod(row[hit_col[q]].c_str(), nullptr));
    }
    for (size_t q = 0; q < pu.ks.size(); ++q) v.push_back(std::strtod(row[ndcg_col[q]].c_str(), nullptr));
    for (size_t q = 0; q < 2 * pu.ks.size(); ++q) {
      const std::string& text = row[q < pu.ks.size() ? hit_col[q] : ndcg_col[q - pu.ks.size()]];
      char* end = nullptr;
      const double x = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(x >= 0 && x <= 1))
        throw ArtifactError(ev.File("per_user.csv").string() + ": line " + std::to_string(t.lines[r]) + " holds '" +
                            text + "', not a number from 0 to 1; rerun evaluate");
    }
    pu.rows[row.at(0)] = std::move(v);
  }
  return pu;
}

json Metrics(const json& report) {
  json m;
  auto add = [&](const std::string& k, const json& r) {
    m[k] = {{"hr", r["model"].value("hr", 0.0)},
            {"ndcg", r["model"].value("ndcg", 0.0)},
            {"precision", r["model"].value("precision", 0.0)},
            {"recall", r["model"].value("recall", 0.0)},
            {"map", r["model"].value("map", 0.0)},
            {"coverage", r["model"].value("coverage", 0.0)},
            {"cold_hr", r.contains("cold_start") ? r["cold_start"]["model"].value("hr", 0.0) : 0.0},
            {"popularity_hr", r.contains("popularity") ? r["popularity"].value("hr", 0.0) : 0.0}};
  };
  add(std::to_string(report.value("k", 10)), report);
  if (report.contains("at_k"))
    for (const auto& [k, r] : report["at_k"].items()) add(k, r);
  return m;
}

}  // namespace

namespace {

// Run i's row (parameters, tag, metrics, users evaluated) and its per-user scores for pairing.
json DescribeRun(const fs::path& dir, size_t i, json& notes, std::optional<PerUser>* per_user) {
  const std::string name = "run " + std::to_string(i + 1);
  Artifact ev = OpenEvaluate(dir);
  json report;
  try {
    report = json::parse(ReadFileBytes(ev.File("report.json")));
  } catch (const json::exception& e) {
    throw ArtifactError("compare: " + ev.File("report.json").string() + " is not valid JSON: " + e.what());
  }
  json run{{"run", i + 1}, {"evaluate", ev.dir.string()}, {"tag", ev.manifest.tag}};
  run["parameters"] = RunParameters(ev, notes, name);
  if (run["tag"] == "" && FileNameOfInput(ev, "recommendations").empty()) {
    // A tag given to the run that made the recommendations, when evaluate itself was reused.
    if (auto rec = Parent(ev, "recommend", notes, name)) run["tag"] = rec->manifest.tag;
  }
  run["metrics"] = Metrics(report);
  if (report.contains("same_label_precision")) run["same_label_precision"] = report["same_label_precision"];
  run["users_evaluated"] = report.value("users_evaluated", 0);
  *per_user = ReadPerUser(ev);
  if (!*per_user)
    notes.push_back(name + ": " + ev.dir.string() +
                    " has no per_user.csv (made before evaluate stage version 2): no "
                    "paired intervals; rerun evaluate");
  return run;
}

// Run i's paired intervals against the baseline, on the users both scored, or a note saying why
// there are none.
void PairWithBaseline(const CompareOptions& o, size_t i, const std::vector<std::optional<PerUser>>& per_user,
                      json& out) {
  const size_t base = size_t(o.baseline - 1);
  const json& r = out["runs"][i];
  const json& b = out["runs"][base];
  const std::string name = "run " + std::to_string(i + 1);
  if (r["parameters"].value("test_digest", "a") != b["parameters"].value("test_digest", "b")) {
    out["notes"].push_back(name + " was scored on another test set than run " + std::to_string(o.baseline) +
                           ": its users cannot be paired, so no interval (run both on the same --split)");
    return;
  }
  const PerUser &x = *per_user[i], &y = *per_user[base];
  std::vector<std::pair<size_t, size_t>> cols;  // (column in x, column in y) of each shared K
  std::vector<int> ks;
  for (size_t p = 0; p < x.ks.size(); ++p)
    for (size_t q = 0; q < y.ks.size(); ++q)
      if (x.ks[p] == y.ks[q]) {
        ks.push_back(x.ks[p]);
        cols.push_back({p, q});
      }
  std::vector<std::vector<double>> diffs(ks.size() * 2);
  for (const auto& [user, xv] : x.rows) {
    auto it = y.rows.find(user);
    if (it == y.rows.end()) continue;
    for (size_t c = 0; c < ks.size(); ++c) {
      diffs[2 * c].push_back(xv[cols[c].first] - it->second[cols[c].second]);
      diffs[2 * c + 1].push_back(xv[x.ks.size() + cols[c].first] - it->second[y.ks.size() + cols[c].second]);
    }
  }
  if (ks.empty() || diffs[0].empty()) {
    out["notes"].push_back(name + " and run " + std::to_string(o.baseline) + " share no " +
                           (ks.empty() ? std::string("cut-off K") : std::string("evaluated user")) + ": no interval");
    return;
  }
  if (diffs[0].size() < std::max(x.rows.size(), y.rows.size()))
    out["notes"].push_back(name + " and run " + std::to_string(o.baseline) + " evaluated " +
                           std::to_string(x.rows.size()) + " and " + std::to_string(y.rows.size()) +
                           " users; the intervals pair the " + std::to_string(diffs[0].size()) +
                           " they share, so they can differ from the metrics' difference");
  const std::vector<Interval> iv = PairedBootstrap(diffs, o.resamples, o.seed, o.confidence);
  for (size_t c = 0; c < ks.size(); ++c)
    for (int m = 0; m < 2; ++m) {
      const Interval& v = iv[2 * c + size_t(m)];
      out["paired"].push_back({{"run", i + 1},
                               {"against", o.baseline},
                               {"metric", m == 0 ? "hr" : "ndcg"},
                               {"k", ks[c]},
                               {"users", diffs[0].size()},
                               {"diff", v.mean},
                               {"low", v.low},
                               {"high", v.high},
                               {"significant", v.significant()}});
    }
}

}  // namespace

json Compare(const CompareOptions& o) {
  o.Validate();
  json out{{"runs", json::array()},    {"paired", json::array()}, {"notes", json::array()},    {"baseline", o.baseline},
           {"resamples", o.resamples}, {"seed", o.seed},          {"confidence", o.confidence}};
  std::vector<std::optional<PerUser>> per_user(o.runs.size());
  for (size_t i = 0; i < o.runs.size(); ++i)
    out["runs"].push_back(DescribeRun(o.runs[i], i, out["notes"], &per_user[i]));
  const size_t base = size_t(o.baseline - 1);
  for (size_t i = 0; i < o.runs.size(); ++i)
    if (i != base && per_user[i] && per_user[base]) PairWithBaseline(o, i, per_user, out);
  return out;
}

namespace {
std::string Signed(double x) {
  const std::string s = FormatFixed(x, 4);
  return s[0] == '-' ? s : (x < 0 ? "-" : "+") + s;
}
std::string Label(const json& run) {
  const std::string tag = run.value("tag", "");
  return tag.empty() ? "run " + run["run"].dump() : tag;
}
void Pad(std::string& s, const std::string& cell, size_t width) {
  s += cell;
  if (cell.size() < width) s.append(width - cell.size(), ' ');
  s += "  ";
}
// Columns sized to their widest cell.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], r[c].size());
    }
  std::string s;
  for (const auto& r : rows) {
    std::string line = "  ";
    for (size_t c = 0; c < r.size(); ++c) Pad(line, r[c], c + 1 < r.size() ? width[c] : 0);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    s += line + "\n";
  }
  return s;
}
}  // namespace

std::string FormatCompare(const json& c) {
  std::string s = "runs\n";
  std::vector<std::vector<std::string>> rows{
      {"#", "run", "model", "precision", "reduce", "blend", "neighbors", "split", "evaluate"}};
  for (const auto& r : c["runs"]) {
    const json& p = r["parameters"];
    auto get = [&](const char* k) {
      return p.contains(k) ? (p[k].is_string() ? p[k].get<std::string>() : p[k].dump()) : "?";
    };
    rows.push_back({r["run"].dump(), Label(r), get("model"), get("precision"), get("reduce"), get("blend"),
                    get("neighbors"), get("split"), r["evaluate"].get<std::string>()});
  }
  s += Table(rows);
  // Metrics at every K any run has, deltas against the baseline in brackets.
  std::set<int> ks;
  for (const auto& r : c["runs"])
    for (const auto& [k, m] : r["metrics"].items()) ks.insert(std::stoi(k));
  // Same-label precision is taken at each run's headline K: columns say which K.
  auto label_key = [](const json& r, const std::string& src) {
    return "same-label@" + r["parameters"].value("k", json(0)).dump() + " " + src;
  };
  std::set<std::string> sources;
  for (const auto& r : c["runs"])
    if (r.contains("same_label_precision"))
      for (const auto& [src, v] : r["same_label_precision"].items()) sources.insert(label_key(r, src));
  const json& base = c["runs"][size_t(c.value("baseline", 1) - 1)];
  s += "metrics (model; in brackets: the difference from run " + c["baseline"].dump() + ")\n";
  std::vector<std::string> head{"#", "run"};
  for (int k : ks)
    for (const char* m : {"HR", "NDCG", "cold HR"}) head.push_back(std::string(m) + "@" + std::to_string(k));
  for (const auto& src : sources) head.push_back(src);
  rows = {head};
  for (const auto& r : c["runs"]) {
    std::vector<std::string> row{r["run"].dump(), Label(r)};
    const bool is_base = r["run"] == base["run"];
    auto cell = [&](const json* v, const json* b) {
      if (!v) return std::string("-");
      std::string t = FormatFixed(v->get<double>(), 4);
      if (!is_base && b) t += " (" + Signed(v->get<double>() - b->get<double>()) + ")";
      return t;
    };
    for (int k : ks) {
      const std::string kk = std::to_string(k);
      for (const char* m : {"hr", "ndcg", "cold_hr"}) {
        const json* v = r["metrics"].contains(kk) ? &r["metrics"][kk][m] : nullptr;
        const json* b = base["metrics"].contains(kk) ? &base["metrics"][kk][m] : nullptr;
        row.push_back(cell(v, b));
      }
    }
    auto find = [&](const json& run, const std::string& key) -> const json* {
      if (!run.contains("same_label_precision")) return nullptr;
      for (const auto& [src, v] : run["same_label_precision"].items())
        if (label_key(run, src) == key) return &v;
      return nullptr;
    };
    for (const auto& key : sources) row.push_back(cell(find(r, key), find(base, key)));
    rows.push_back(row);
  }
  s += Table(rows);
  if (!c["paired"].empty()) {
    s += "paired differences from run " + c["baseline"].dump() + ", user by user (" +
         FormatFixed(100 * c.value("confidence", 0.95), 0) + " % bootstrap interval, " + c["resamples"].dump() +
         " resamples, seed " + c["seed"].dump() + ")\n";
    rows = {{"#", "run", "metric", "users", "difference", "interval", ""}};
    for (const auto& p : c["paired"]) {
      const json& r = c["runs"][size_t(p["run"].get<int>() - 1)];
      rows.push_back({p["run"].dump(), Label(r), std::string(p["metric"] == "hr" ? "HR" : "NDCG") + "@" + p["k"].dump(),
                      p["users"].dump(), Signed(p["diff"].get<double>()),
                      "[" + Signed(p["low"].get<double>()) + ", " + Signed(p["high"].get<double>()) + "]",
                      p["significant"].get<bool>() ? "significant" : "not significant"});
    }
    s += Table(rows);
  }
  for (const auto& n : c["notes"]) s += "note: " + n.get<std::string>() + "\n";
  return s;
}

std::string CompareCsv(const json& c) {
  std::string s = "run,tag,evaluate,metric,k,value,diff,low,high,significant\n";
  std::map<std::pair<int, std::string>, const json*> paired;  // (run, metric@k)
  for (const auto& p : c["paired"])
    paired[{p["run"].get<int>(), p["metric"].get<std::string>() + "@" + p["k"].dump()}] = &p;
  for (const auto& r : c["runs"]) {
    const int run = r["run"].get<int>();
    for (const auto& [k, m] : r["metrics"].items())
      for (const auto& [metric, v] : m.items()) {
        std::vector<std::string> f{std::to_string(run),
                                   r.value("tag", ""),
                                   r["evaluate"].get<std::string>(),
                                   metric,
                                   k,
                                   FormatFixed(v.get<double>(), 6)};
        auto it = paired.find({run, metric + "@" + k});
        if (it != paired.end()) {
          const json& p = *it->second;
          for (const char* x : {"diff", "low", "high"}) f.push_back(FormatFixed(p[x].get<double>(), 6));
          f.push_back(p["significant"].get<bool>() ? "yes" : "no");
        } else {
          f.insert(f.end(), {"", "", "", ""});
        }
        s += CsvLine(f);
      }
    if (r.contains("same_label_precision"))
      for (const auto& [src, v] : r["same_label_precision"].items())
        s += CsvLine({std::to_string(run), r.value("tag", ""), r["evaluate"].get<std::string>(), "same_label_" + src,
                      "", FormatFixed(v.get<double>(), 6), "", "", "", ""});
  }
  return s;
}

}  // namespace visrec::pipeline
