// What `lumos serve` counts, in Prometheus' text format (GET /metrics): requests by path and
// status, request latency and batch size histograms, the queue's depth.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace lumos::cli {

// A Prometheus histogram: cumulative counts of observations <= each bound, their sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // name_bucket{le="…"} lines, name_sum and name_count.
  std::string text(const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServeMetrics {
 public:
  ServeMetrics();
  void count_request(const std::string& path, int status, double seconds);
  void count_batch(size_t images);
  std::string text(size_t queue_depth, size_t queue_capacity) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  Histogram latency_;
  Histogram batch_sizes_;
};

}  // namespace lumos::cli
