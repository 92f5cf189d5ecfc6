// Synthetic inputs for tools/bench/scale.sh (a benchmark helper, not a test):
//   scale_inputs OUT ITEMS USERS INTERACTIONS [DIMS=64] [SEED=0]
// writes OUT/catalog.csv (item_id,image,title,category), OUT/interactions.csv (user_id,item_id,timestamp)
// and a reduce artifact in the workdir OUT/work (reduced_l2.npy + ids.txt), so `visrec recommend`
// runs at sizes where extracting real photos would take days.
// - Visual vectors are clustered (ITEMS/500 Gaussian clusters, at least 20), as reduced image
//   features are; a cluster is a category, and its items share some title words.
// - Users have one favourite cluster: each interaction is from it with probability 0.6, else drawn
//   from a popularity-skewed distribution over all items (weight 1/(rank+1)^0.8). Interactions per
//   user vary (1 + geometric), averaging INTERACTIONS/USERS; timestamps increase per user.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/npy.h"

using namespace visrec;

namespace {
std::string Id(char prefix, int64_t i, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%0*lld", prefix, width, static_cast<long long>(i));
  return buf;
}
int Width(int64_t n) { return int(std::to_string(std::max<int64_t>(n - 1, 1)).size()); }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: scale_inputs OUT ITEMS USERS INTERACTIONS [DIMS=64] [SEED=0]\n");
    return 2;
  }
  const fs::path out = argv[1];
  const int64_t items = std::stoll(argv[2]), users = std::stoll(argv[3]), interactions = std::stoll(argv[4]);
  const int64_t dims = argc > 5 ? std::stoll(argv[5]) : 64;
  const uint64_t seed = argc > 6 ? std::stoull(argv[6]) : 0;
  if (items < 1 || users < 1 || interactions < users || dims < 1) {
    std::fprintf(stderr, "scale_inputs: need ITEMS >= 1, USERS >= 1, INTERACTIONS >= USERS, DIMS >= 1\n");
    return 2;
  }
  fs::create_directories(out);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss;
  const int64_t clusters = std::max<int64_t>(20, items / 500);
  const int iw = Width(items), uw = Width(users);

  // ---- vectors and catalog ----
  std::vector<float> centre(static_cast<size_t>(clusters * dims));
  for (float& c : centre) c = gauss(rng);
  std::vector<int32_t> cluster_of(static_cast<size_t>(items));
  std::vector<std::vector<int32_t>> members(static_cast<size_t>(clusters));
  std::vector<float> x(static_cast<size_t>(items * dims));
  for (int64_t i = 0; i < items; ++i) {
    const int64_t c = int64_t(rng() % uint64_t(clusters));
    cluster_of[size_t(i)] = int32_t(c);
    members[size_t(c)].push_back(int32_t(i));
    double nrm = 0;
    for (int64_t k = 0; k < dims; ++k) {
      float& v = x[size_t(i * dims + k)];
      v = centre[size_t(c * dims + k)] + 0.35f * gauss(rng);
      nrm += double(v) * v;
    }
    for (int64_t k = 0; k < dims; ++k) x[size_t(i * dims + k)] = float(x[size_t(i * dims + k)] / std::sqrt(nrm));
  }
  {
    // Titles: two words of the item's cluster (of 8), two of a 5000-word general vocabulary drawn
    // Zipf-like (a few words, e.g. colours, are in very many titles, as in real catalogs).
    std::vector<double> word_cdf(5000);
    double acc = 0;
    for (size_t w = 0; w < word_cdf.size(); ++w) word_cdf[w] = acc += 1.0 / double(w + 1);
    std::uniform_real_distribution<double> unit(0, 1);
    std::ofstream cat(out / "catalog.csv");
    cat << "item_id,image,title,category\n";
    for (int64_t i = 0; i < items; ++i) {
      const int32_t c = cluster_of[size_t(i)];
      cat << Id('i', i, iw) << ",photos/" << Id('i', i, iw) << ".jpg,";  // never read: recommend needs no photos
      for (int t = 0; t < 2; ++t) cat << "k" << c << "w" << (rng() % 8) << " ";
      for (int t = 0; t < 2; ++t) {
        const size_t w = size_t(std::lower_bound(word_cdf.begin(), word_cdf.end(), unit(rng) * acc) - word_cdf.begin());
        cat << "g" << w << (t == 0 ? " " : "");
      }
      cat << ",cat" << c << "\n";
    }
    if (!cat) {
      std::fprintf(stderr, "scale_inputs: cannot write %s\n", (out / "catalog.csv").c_str());
      return 3;
    }
  }
  {
    ArtifactBuilder b(out / "work", "reduce", 1,
                      {{"synthetic", "tools/bench/scale_inputs"}, {"items", items}, {"dims", dims}, {"seed", seed}},
                      {});
    WriteNpy(b.Path("reduced_l2.npy"), DType::kF32, {items, dims}, x.data());
    std::ofstream ids(b.Path("ids.txt"));
    for (int64_t i = 0; i < items; ++i) ids << Id('i', i, iw) << "\n";
    ids.close();
    if (!ids) {
      std::fprintf(stderr, "scale_inputs: cannot write ids.txt\n");
      return 3;
    }
    b.AddOutput("reduced_l2.npy");
    b.AddOutput("ids.txt");
    b.counts()["items"] = items;
    b.Commit();
  }

  // ---- interactions ----
  // Popularity: a random permutation of items gets weights 1/(rank+1)^0.8.
  std::vector<int32_t> by_rank(static_cast<size_t>(items));
  for (int64_t i = 0; i < items; ++i) by_rank[size_t(i)] = int32_t(i);
  std::shuffle(by_rank.begin(), by_rank.end(), rng);
  std::vector<double> pop_cdf(static_cast<size_t>(items));
  double total = 0;
  for (int64_t r = 0; r < items; ++r) pop_cdf[size_t(r)] = total += std::pow(double(r + 1), -0.8);
  std::uniform_real_distribution<double> unit(0, 1);
  const double mean_extra = std::max(0.0, double(interactions) / double(users) - 1.0);
  std::geometric_distribution<int64_t> extra(1.0 / (1.0 + mean_extra));
  FILE* f = std::fopen((out / "interactions.csv").c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "scale_inputs: cannot write %s\n", (out / "interactions.csv").c_str());
    return 3;
  }
  std::vector<char> buf(size_t(1) << 22);
  std::setvbuf(f, buf.data(), _IOFBF, buf.size());
  std::fputs("user_id,item_id,timestamp\n", f);
  int64_t written = 0;
  const std::string ufmt = "u%0" + std::to_string(uw) + "lld,i%0" + std::to_string(iw) + "d,%lld\n";
  for (int64_t u = 0; u < users; ++u) {
    const int64_t fav = int64_t(rng() % uint64_t(clusters));
    const auto& pool = members[size_t(fav)];
    const int64_t count = 1 + extra(rng);
    long long ts = 1600000000LL + (long long)(rng() % 20000000ULL);
    for (int64_t q = 0; q < count; ++q) {
      int32_t item;
      if (!pool.empty() && unit(rng) < 0.6) {
        item = pool[size_t(rng() % pool.size())];
      } else {
        const size_t r = size_t(std::lower_bound(pop_cdf.begin(), pop_cdf.end(), unit(rng) * total) - pop_cdf.begin());
        item = by_rank[std::min(r, by_rank.size() - 1)];
      }
      ts += 60 + (long long)(rng() % 86400ULL);
      std::fprintf(f, ufmt.c_str(), (long long)u, item, ts);
      ++written;
    }
  }
  if (std::fclose(f) != 0) {
    std::fprintf(stderr, "scale_inputs: writing interactions failed\n");
    return 3;
  }
  std::printf("%lld items (%lld clusters), %lld users, %lld interactions, %lld dims\n", (long long)items,
              (long long)clusters, (long long)users, (long long)written, (long long)dims);
  return 0;
}
