#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

#include "phases.h"
#include "visrec/artifact/contracts.h"
#include "visrec/artifact/npy.h"
#include "visrec/util/errors.h"
#include "visrec/util/progress.h"

namespace visrec::extract {
namespace {

// Bounded producer/consumer: batch i+1 is read and normalized while batch i runs.
struct Batch {
  torch::Tensor input;  // float32 NCHW (plain, or a view over channels-last storage)
  int64_t first = 0, count = 0;
};

class BatchQueue {
 public:
  void Push(Batch b) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return q_.size() < 2 || stop_; });
    q_.push_back(std::move(b));
    cv_.notify_all();
  }
  bool Pop(Batch* b) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !q_.empty() || done_ || stop_; });
    if (q_.empty()) return false;
    *b = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return true;
  }
  void Done() {
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Stop() {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> q_;
  bool done_ = false, stop_ = false;
};

// Producer: reads uint8 rows from shards, normalizes into float32: NCHW for the oneDNN kernels
// (which take fp32 and convert to their own layout and precision in one reorder) and for eager
// without channels-last; NHWC otherwise.
void ReadBatches(const FeatureRun& run, const Artifact& pre, const ImageTable& images,
                 const std::array<double, 3>& mean, const std::array<double, 3>& stdv, const std::vector<int64_t>& todo,
                 BatchQueue& queue) {
  const int64_t crop = contract::PreprocessParams::From(pre.manifest).crop;
  const bool planar = run.kernels == CpuKernels::kOneDnn || !run.channels_last;
  const size_t px = size_t(crop) * size_t(crop) * 3;
  const bool pin = run.device.is_cuda();
  const size_t batch = size_t(run.batch);
  std::map<std::string, std::pair<std::unique_ptr<std::FILE, int (*)(std::FILE*)>, size_t>> files;
  float scale[3], shift[3];
  for (int k = 0; k < 3; ++k) {
    scale[k] = float(1.0 / (255.0 * stdv[size_t(k)]));
    shift[k] = float(-mean[size_t(k)] / stdv[size_t(k)]);
  }
  std::vector<uint8_t> buf(px);
  // Batch buffers are reused once the model is done with them: a fresh multi-megabyte buffer
  // faults in every 4 KB page on first touch, on a core the model needs. (On CUDA the consumer's
  // blocking copy of the features back to the host orders the batch's upload before its buffer
  // is released.)
  std::vector<torch::Tensor> pool;
  for (size_t s = 0; s < todo.size(); s += batch) {
    int64_t cnt = int64_t(std::min(todo.size() - s, batch));
    auto opts = torch::TensorOptions().dtype(torch::kFloat).pinned_memory(pin);
    torch::Tensor pixels;
    for (auto& t : pool)  // a buffer no batch in flight holds any more
      if (t.use_count() == 1 && t.size(0) == cnt) {
        pixels = t;
        break;
      }
    if (!pixels.defined()) {
      pixels = torch::empty({cnt, crop, crop, 3}, opts);
      if (pool.size() < 4) pool.push_back(pixels);
    }
    float* dst = pixels.data_ptr<float>();
    for (int64_t j = 0; j < cnt; ++j) {
      const int64_t row = todo[s + size_t(j)];
      const std::string shard = images.Cell(row, images.c_shard);
      auto it = files.find(shard);
      if (it == files.end()) {
        fs::path f = pre.File("pixels-" + shard + ".npy");
        NpyHeader h = ReadNpyHeader(f);
        it = files
                 .emplace(shard, std::make_pair(std::unique_ptr<std::FILE, int (*)(std::FILE*)>(
                                                    std::fopen(f.c_str(), "rb"), &std::fclose),
                                                h.data_offset))
                 .first;
        if (!it->second.first) throw ArtifactError("cannot open " + f.string());
      }
      std::FILE* f = it->second.first.get();
      long off = long(it->second.second + size_t(std::stoll(images.Cell(row, images.c_row))) * px);
      if (std::fseek(f, off, SEEK_SET) != 0 || std::fread(buf.data(), 1, px, f) != px)
        throw ArtifactError("short read in pixels-" + shard + ".npy of " + pre.dir.string());
      float* d = dst + size_t(j) * px;
      if (planar) {  // RGBRGB... -> RR..GG..BB..
        const size_t plane = px / 3;
        for (size_t q = 0; q < plane; ++q) {
          d[q] = buf[3 * q] * scale[0] + shift[0];
          d[plane + q] = buf[3 * q + 1] * scale[1] + shift[1];
          d[2 * plane + q] = buf[3 * q + 2] * scale[2] + shift[2];
        }
      } else {
        for (size_t q = 0; q < px; q += 3) {
          d[q] = buf[q] * scale[0] + shift[0];
          d[q + 1] = buf[q + 1] * scale[1] + shift[1];
          d[q + 2] = buf[q + 2] * scale[2] + shift[2];
        }
      }
    }
    // Planar storage is a plain NCHW tensor; interleaved storage viewed as NCHW is a
    // channels-last tensor, no copy either way.
    torch::Tensor x = planar ? pixels.view({cnt, 3, crop, crop}) : pixels.permute({0, 3, 1, 2});
    queue.Push({x, int64_t(s), cnt});
  }
}

}  // namespace

double ComputePhotoFeatures(const FeatureRun& run, const Artifact& pre, const ImageTable& images,
                            const std::array<double, 3>& mean, const std::array<double, 3>& stdv,
                            const std::vector<int64_t>& todo, std::vector<float>& photo) {
  BatchQueue queue;
  std::exception_ptr producer_error;
  std::thread producer([&] {
    try {
      ReadBatches(run, pre, images, mean, stdv, todo, queue);
    } catch (...) {
      producer_error = std::current_exception();
    }
    queue.Done();
  });

  const int64_t dim = run.dim;
  Progress progress("extract", int64_t(todo.size()), "images");
  auto run_start = std::chrono::steady_clock::now();
  try {
    Batch b;
    while (queue.Pop(&b)) {
      torch::Tensor x =
          run.kernels == CpuKernels::kOneDnn ? b.input : b.input.to(run.device, run.dtype, /*non_blocking=*/true);
      torch::Tensor f = run.model.Features(x).to(torch::kCPU, torch::kFloat).contiguous();
      if (f.size(1) != dim)
        throw InputError("model produced " + std::to_string(f.size(1)) + "-d features, expected " +
                         std::to_string(dim));
      f = f / f.norm(2, 1, true).clamp_min(1e-12);  // L2-normalize each photo's feature
      const float* fp = f.data_ptr<float>();
      for (int64_t j = 0; j < b.count; ++j)
        std::copy_n(fp + j * dim, dim, photo.begin() + todo[size_t(b.first + j)] * dim);
      progress.Add(b.count);
    }
  } catch (...) {
    queue.Stop();
    producer.join();
    throw;
  }
  producer.join();
  if (producer_error) std::rethrow_exception(producer_error);
  progress.Done();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
}

}  // namespace visrec::extract
