#include "serve_metrics.hpp"

#include <sstream>

namespace lumos::cli {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

std::string Histogram::text(const std::string& name) const {
  std::ostringstream out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    out << name << "_bucket{le=\"";
    if (i < bounds_.size()) out << bounds_[i];
    else out << "+Inf";
    out << "\"} " << cumulative << "\n";
  }
  out << name << "_sum " << sum_ << "\n" << name << "_count " << count_ << "\n";
  return out.str();
}

ServeMetrics::ServeMetrics()
    : latency_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}), batch_sizes_({1, 2, 4, 8, 16, 32, 64}) {}

void ServeMetrics::count_request(const std::string& path, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{path, status}];
  if (path == "/v1/explain") latency_.observe(seconds);
}

void ServeMetrics::count_batch(size_t images) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_sizes_.observe(static_cast<double>(images));
}

std::string ServeMetrics::text(size_t queue_depth, size_t queue_capacity) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  out << "# HELP lumos_http_requests_total HTTP requests answered, by path and status code.\n"
         "# TYPE lumos_http_requests_total counter\n";
  uint64_t errors = 0;
  for (const auto& [key, count] : requests_) {
    out << "lumos_http_requests_total{path=\"" << key.first << "\",code=\"" << key.second << "\"} " << count << "\n";
    if (key.second >= 400) errors += count;
  }
  out << "# HELP lumos_http_errors_total HTTP requests answered with a status of 400 or more.\n"
         "# TYPE lumos_http_errors_total counter\n"
      << "lumos_http_errors_total " << errors << "\n"
      << "# HELP lumos_explain_latency_seconds Time from a POST /v1/explain's arrival to its answer.\n"
         "# TYPE lumos_explain_latency_seconds histogram\n"
      << latency_.text("lumos_explain_latency_seconds")
      << "# HELP lumos_batch_size Images scored together in one model batch.\n"
         "# TYPE lumos_batch_size histogram\n"
      << batch_sizes_.text("lumos_batch_size")
      << "# HELP lumos_queue_depth Explain requests waiting for the model.\n"
         "# TYPE lumos_queue_depth gauge\n"
      << "lumos_queue_depth " << queue_depth << "\n"
      << "# HELP lumos_queue_capacity Requests the queue holds before answering 503.\n"
         "# TYPE lumos_queue_capacity gauge\n"
      << "lumos_queue_capacity " << queue_capacity << "\n";
  return out.str();
}

}  // namespace lumos::cli
