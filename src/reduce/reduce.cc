#include "visrec/artifact/contracts.h"
#include "visrec/reduce/reduce.h"

#include <chrono>
#include <sstream>

#include <Eigen/Core>
#include <spdlog/spdlog.h>

#include "visrec/artifact/inputs.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/options.h"
#include "visrec/util/sha256.h"
#include <map>
#include "visrec/util/numfmt.h"

namespace visrec::reduce {
namespace {

constexpr const char* kStage = "reduce";

template <class M>
std::vector<float> ToVec(const M& m) {
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r = m.template cast<float>();
  return std::vector<float>(r.data(), r.data() + r.size());
}

}  // namespace

PcaModel LoadFit(const Artifact& a) {
  if (a.stage != kStage) throw ArtifactError("'" + a.dir.string() + "' is a " + a.stage + " artifact, expected reduce");
  PcaModel m;
  auto mean = a.ReadArray<double>("pca_mean.npy");
  auto comps = a.ReadArray<double>("pca_components.npy");
  auto var = a.ReadArray<double>("pca_variance.npy");
  m.mean = Eigen::Map<Eigen::VectorXd>(mean.data.data(), Eigen::Index(mean.data.size()));
  m.components = Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      comps.data.data(), comps.rows(), comps.cols());
  m.variance = Eigen::Map<Eigen::VectorXd>(var.data.data(), Eigen::Index(var.data.size()));
  m.total_variance = a.manifest.Extra<double>("total_variance");
  m.ratio = m.variance / std::max(m.total_variance, 1e-300);
  // A fit's options; an applied fit records what it applied in extra. Both record in extra the
  // method that fitted (params hold the one asked for, perhaps "auto"); applied fits made before
  // 2026-12-03 recorded the asked one there, so "auto" is read as "not recorded".
  const contract::ReduceParams params = contract::ReduceParams::From(a.manifest);
  m.whiten = params.whiten ? *params.whiten : a.manifest.Extra<bool>("whiten");
  const std::string method = a.manifest.Extra<std::string>("method");
  const std::optional<PcaMethod> fitted = FindChoice<PcaMethod>(method);
  if (!fitted) a.manifest.Bad("extra", "method", "'" + method + "' is not " + ChoiceText<PcaMethod>());
  m.method = *fitted;
  return m;
}

std::string EigenVersion() {
  return std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
         std::to_string(EIGEN_MINOR_VERSION);
}

void ReduceOptions::Validate() const {
  const auto& p = pca;
  if (p.method == PcaMethod::kLda && (label_column.empty() || catalog.empty()))
    throw UsageError("reduce: --method lda needs --label-column and --catalog");
  CheckRange("reduce: --variance", p.variance_target, 0, 1);
  if (p.variance_target > 0 && p.dims != PcaFitOptions{}.dims)
    throw UsageError("reduce: give --dims or --variance, not both (--variance picks the number of dimensions)");
  if (p.variance_target == 0 && p.dims < 1) throw UsageError("reduce: --dims must be >= 1");
  if (p.power_iterations < 0 || p.power_iterations > 50)
    throw UsageError("reduce: --power-iterations must be in [0, 50]");
}

json FitParams(const ReduceOptions& o) {
  json params = {{"mode", "fit"},      {"method", o.pca.method},         {"whiten", o.pca.whiten},
                 {"seed", o.pca.seed}, {"oversample", o.pca.oversample}, {"power_iterations", o.pca.power_iterations}};
  if (o.pca.method == PcaMethod::kLda) params["label_column"] = o.label_column;
  if (o.pca.variance_target > 0)
    params["variance_target"] = o.pca.variance_target;
  else
    params["dims"] = o.pca.dims;
  return params;
}

namespace {

// The extract artifact's item features, checked: one id per row, every value finite.
NpyArray<float> ReadFeatures(const Artifact& ex, std::vector<std::string>& ids) {
  auto feats = ex.ReadArray<float>("features.npy");
  ids = ReadLines(ex.File("ids.txt"));
  if (int64_t(ids.size()) != feats.rows())
    throw ArtifactError("reduce: " + ex.File("ids.txt").string() + " has " + std::to_string(ids.size()) + " ids for " +
                        std::to_string(feats.rows()) + " feature rows");
  Eigen::Map<MatrixF> x(feats.data.data(), feats.rows(), feats.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    if (!x.row(i).allFinite())
      throw InputError("reduce: features of item '" + ids[size_t(i)] + "' contain NaN/Inf (" +
                       ex.File("features.npy").string() + " row " + std::to_string(i) + "); rerun extract");
  return feats;
}

// Fisher LDA on the catalog's --label-column; unlabelled items are projected, not fitted on.
PcaModel FitLdaOnCatalog(const ReduceOptions& o, const MatrixRef& x, const std::vector<std::string>& ids) {
  Catalog cat = ReadCatalog(o.catalog);
  if (std::find(cat.columns.begin(), cat.columns.end(), o.label_column) == cat.columns.end())
    throw InputError(o.catalog.string() + ": no column '" + o.label_column + "' for --label-column");
  std::map<std::string, int> class_of;
  std::vector<int> labels(ids.size(), -1);
  int64_t unlabelled = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = cat.metadata.find(ids[i]);
    std::string v = it == cat.metadata.end() ? "" : it->second[o.label_column];
    if (v.empty()) {
      ++unlabelled;
      continue;
    }
    labels[i] = class_of.emplace(v, int(class_of.size())).first->second;
  }
  PcaModel m;
  try {
    m = FitLda(x, labels, o.pca.dims);
  } catch (const InputError& e) {  // name the classes the fit numbered
    std::string msg = e.what();
    for (auto& [name, c] : class_of)
      if (msg.find("class #" + std::to_string(c) + " ") != std::string::npos)
        msg.replace(msg.find("class #" + std::to_string(c) + " "), ("class #" + std::to_string(c)).size(),
                    "class '" + name + "'");
    throw InputError("reduce: " + msg);
  }
  if (unlabelled)
    spdlog::warn("reduce: {} item(s) without a '{}' label are projected but not used for the LDA fit", unlabelled,
                 o.label_column);
  return m;
}

void WriteOutputs(const PcaModel& m, const MatrixF& red, const MatrixF& l2, const std::vector<std::string>& ids,
                  ArtifactBuilder& b) {
  const int64_t n = red.rows(), k = red.cols(), d = m.mean.size();
  WriteNpy(b.Path("reduced.npy"), DType::kF32, {n, k}, red.data());
  WriteNpy(b.Path("reduced_l2.npy"), DType::kF32, {n, k}, l2.data());
  std::vector<double> mean(m.mean.data(), m.mean.data() + m.mean.size());
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> comps = m.components;
  std::vector<double> var(m.variance.data(), m.variance.data() + m.variance.size());
  WriteNpy(b.Path("pca_mean.npy"), DType::kF64, {d}, mean.data());
  WriteNpy(b.Path("pca_components.npy"), DType::kF64, {k, d}, comps.data());
  WriteNpy(b.Path("pca_variance.npy"), DType::kF64, {k}, var.data());
  WriteLines(b.Path("ids.txt"), ids);
  for (const char* f :
       {"reduced.npy", "reduced_l2.npy", "pca_mean.npy", "pca_components.npy", "pca_variance.npy", "ids.txt"})
    b.AddOutput(f);
}

// Explained variance per component and cumulated; returns the total share explained.
double DescribeFit(const PcaModel& m, ArtifactBuilder& b) {
  json ratios = json::array(), cum = json::array();
  double c = 0;
  for (Eigen::Index i = 0; i < m.ratio.size(); ++i) {
    c += m.ratio(i);
    ratios.push_back(m.ratio(i));
    cum.push_back(c);
  }
  b.extra() = {{"explained_variance_ratio", ratios},
               {"cumulative_explained_variance", cum},
               {"total_variance", m.total_variance},
               {"method", m.method},
               {"whiten", m.whiten}};
  return c;
}

}  // namespace

StageResult Run(const ReduceOptions& o, const RunContext& ctx) {
  o.Validate();
  auto t0 = std::chrono::steady_clock::now();
  Artifact ex = OpenGivenOrLatest("reduce", o.extract, ctx.workdir, "extract");
  std::vector<ArtifactInput> inputs{ex.AsInput("extract")};
  json params;
  std::optional<Artifact> fitted;
  if (!o.apply.empty()) {
    fitted = OpenArtifact(o.apply);
    inputs.push_back(fitted->AsInput("pca_model"));
    params = {{"mode", "apply"}};
  } else {
    params = FitParams(o);
    if (o.pca.method == PcaMethod::kLda) inputs.push_back(FileInput("catalog", o.catalog));
  }
  const std::string key = ComputeArtifactKey(kStage, kStageVersion, params, inputs);
  if (auto up = FindUpToDate(ctx, kStage, key)) return *up;

  std::vector<std::string> ids;
  auto feats = ReadFeatures(ex, ids);
  Eigen::Map<MatrixF> x(feats.data.data(), feats.rows(), feats.cols());
  PcaModel m;
  double drift_share = -1;
  if (fitted) {
    m = LoadFit(*fitted);
    drift_share = ExplainedShare(m, x);
  } else if (o.pca.method == PcaMethod::kLda) {
    m = FitLdaOnCatalog(o, x, ids);
  } else {
    PcaFitOptions fit = o.pca;
    fit.threads = ctx.threads;
    m = FitPca(x, fit);
  }
  MatrixF red = Project(m, x);
  MatrixF l2 = red;
  for (Eigen::Index i = 0; i < l2.rows(); ++i) {
    float nrm = l2.row(i).norm();
    if (nrm > 0) l2.row(i) /= nrm;  // all-zero rows stay zero: cosine treats them as "no signal"
  }
  const int64_t n = red.rows(), k = red.cols(), d = x.cols();

  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  b.producer()["eigen"] = EigenVersion();
  WriteOutputs(m, red, l2, ids, b);
  const double c = DescribeFit(m, b);
  if (fitted) {
    b.extra()["drift"] = {{"fit_explained_share", c},
                          {"new_data_explained_share", drift_share},
                          {"note", "share of the new items' variance (around the fitted mean) the old basis explains"}};
    spdlog::info("reduce: applied fit {}: the basis explains {:.1f}% of the new data's variance (fit time: {:.1f}%)",
                 fitted->dir.string(), 100 * drift_share, 100 * c);
  }
  b.counts() = contract::ReduceSummary{int64_t(n), int64_t(d), int64_t(k), std::nullopt}.ToJson();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  b.SetTiming("total", secs);
  Artifact a = b.Commit();
  spdlog::info("reduce: {} items {} -> {} dims ({}), explained variance {:.1f}% -> {}", n, d, k, ChoiceName(m.method),
               100 * c, a.dir.string());
  return StageResult{a, false, secs};
}

}  // namespace visrec::reduce
