// The queue of `lumos serve`: requests wait here for the model, which one worker thread runs.
// Requests with the same settings that arrive within `max_wait` of the first are explained as
// one batch (dynamic batching); a request whose client left or whose deadline passed is dropped
// from the queue, or stopped between the steps of its explanation.
#pragma once

#include "serve_metrics.hpp"

#include "lumos/explain.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace lumos::cli {

using Clock = std::chrono::steady_clock;

// What the worker hands back for one request.
struct ExplainOutcome {
  ImageResult result;
  RunSummary summary;         // the settings it was explained with
  int status = 200;           // 200, or the HTTP status of `error`
  std::string error;          // why it was not explained (an unknown layer, a failure of the model)
  size_t batch_size = 0;      // images explained together with it
  double queued_ms = 0;       // from its arrival to its batch's start
  double explain_ms = 0;      // its batch's run
};

struct ExplainJob {
  std::string settings;     // requests with equal settings may share a batch
  ExplainRequest request;   // their settings (targets are per input)
  ImageInput input;         // the decoded image, its targets and `cancelled`
  Clock::time_point arrived = Clock::now();
  std::promise<ExplainOutcome> outcome;
};

class ExplainQueue {
 public:
  // `capacity`: requests waiting or running before submit() refuses more.
  ExplainQueue(Model& model, size_t max_batch, std::chrono::milliseconds max_wait, size_t capacity,
               ServeMetrics& metrics);
  ~ExplainQueue();
  ExplainQueue(const ExplainQueue&) = delete;
  ExplainQueue& operator=(const ExplainQueue&) = delete;

  // The job's outcome to come, or none when the queue is full.
  std::optional<std::future<ExplainOutcome>> submit(std::unique_ptr<ExplainJob> job);
  size_t depth() const;
  size_t capacity() const { return capacity_; }

 private:
  void work();
  std::vector<std::unique_ptr<ExplainJob>> next_batch(std::unique_lock<std::mutex>& lock);
  void run(std::vector<std::unique_ptr<ExplainJob>>& batch);
  ExplainPipeline& pipeline_for(const ExplainJob& job);

  Model& model_;
  const size_t max_batch_;
  const std::chrono::milliseconds max_wait_;
  const size_t capacity_;
  ServeMetrics& metrics_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<std::unique_ptr<ExplainJob>> waiting_;
  size_t running_ = 0;
  bool stopping_ = false;
  // One pipeline per distinct settings (the worker's alone), the least recent dropped beyond a few.
  std::map<std::string, std::pair<std::unique_ptr<ExplainPipeline>, uint64_t>> pipelines_;
  uint64_t uses_ = 0;
  std::thread worker_;
};

}  // namespace lumos::cli
