#include "serve_queue.hpp"

#include "lumos/error.hpp"

#include <c10/util/Exception.h>

#include <algorithm>

namespace lumos::cli {
namespace {

constexpr size_t kPipelinesKept = 16;

double milliseconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

bool cancelled(const ExplainJob& job) { return job.input.cancelled && job.input.cancelled(); }

}  // namespace

ExplainQueue::ExplainQueue(Model& model, size_t max_batch, std::chrono::milliseconds max_wait, size_t capacity,
                           ServeMetrics& metrics)
    : model_(model),
      max_batch_(std::max<size_t>(1, max_batch)),
      max_wait_(max_wait),
      capacity_(capacity),
      metrics_(metrics),
      worker_([this] { work(); }) {}

ExplainQueue::~ExplainQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  arrived_.notify_all();
  worker_.join();
}

std::optional<std::future<ExplainOutcome>> ExplainQueue::submit(std::unique_ptr<ExplainJob> job) {
  auto future = job->outcome.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (waiting_.size() + running_ >= capacity_) return std::nullopt;
    waiting_.push_back(std::move(job));
  }
  arrived_.notify_all();
  return future;
}

size_t ExplainQueue::depth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_.size();
}

// The first waiting job and those with its settings, up to max_batch, waiting at most max_wait
// from the first one's arrival for more. Cancelled jobs are answered and dropped on the way.
std::vector<std::unique_ptr<ExplainJob>> ExplainQueue::next_batch(std::unique_lock<std::mutex>& lock) {
  std::vector<std::unique_ptr<ExplainJob>> batch;
  arrived_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
  if (waiting_.empty()) return batch;
  const std::string settings = waiting_.front()->settings;
  const auto until = waiting_.front()->arrived + max_wait_;
  while (true) {
    for (auto it = waiting_.begin(); it != waiting_.end() && batch.size() < max_batch_;) {
      if (cancelled(**it)) {
        ExplainOutcome outcome;
        outcome.result.cancelled = true;
        outcome.result.error = "cancelled while waiting";
        (*it)->outcome.set_value(std::move(outcome));
        it = waiting_.erase(it);
      } else if ((*it)->settings == settings) {
        batch.push_back(std::move(*it));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    running_ = batch.size();  // the batch being gathered counts against the capacity
    if (batch.size() >= max_batch_ || stopping_ || Clock::now() >= until) break;
    if (batch.empty() && waiting_.empty()) break;
    arrived_.wait_until(lock, until);
  }
  return batch;
}

ExplainPipeline& ExplainQueue::pipeline_for(const ExplainJob& job) {
  auto it = pipelines_.find(job.settings);
  if (it == pipelines_.end()) {
    if (pipelines_.size() >= kPipelinesKept) {
      pipelines_.erase(std::min_element(pipelines_.begin(), pipelines_.end(), [](const auto& a, const auto& b) {
        return a.second.second < b.second.second;
      }));
    }
    auto request = job.request;
    request.batch_size = static_cast<int64_t>(max_batch_);
    it = pipelines_.emplace(job.settings, std::make_pair(std::make_unique<ExplainPipeline>(model_, request), 0)).first;
  }
  it->second.second = ++uses_;
  return *it->second.first;
}

void ExplainQueue::run(std::vector<std::unique_ptr<ExplainJob>>& batch) {
  const auto start = Clock::now();
  std::vector<bool> answered(batch.size(), false);
  auto answer_rest = [&](int status, const std::string& error) {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (answered[i]) continue;
      ExplainOutcome outcome;
      outcome.status = status;
      outcome.error = error;
      batch[i]->outcome.set_value(std::move(outcome));
      answered[i] = true;
    }
  };
  try {
    ExplainPipeline& pipeline = pipeline_for(*batch.front());
    const RunSummary summary = pipeline.summary();
    std::vector<ImageInput> inputs;
    for (const auto& job : batch) inputs.push_back(job->input);
    metrics_.count_batch(inputs.size());
    pipeline.run(inputs, [&](ImageResult&& result) {
      const size_t i = result.index;
      ExplainOutcome outcome;
      outcome.result = std::move(result);
      outcome.summary = summary;
      outcome.batch_size = batch.size();
      outcome.queued_ms = milliseconds_between(batch[i]->arrived, start);
      outcome.explain_ms = milliseconds_between(start, Clock::now());
      batch[i]->outcome.set_value(std::move(outcome));
      answered[i] = true;
    });
    answer_rest(500, "the explanation ended without a result");
  } catch (const ModelError& e) {
    answer_rest(500, e.what());
  } catch (const InputError& e) {  // an unknown layer or option, targets that do not fit
    answer_rest(400, e.what());
  } catch (const c10::Error& e) {
    answer_rest(500, std::string("the model failed to run: ") + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    answer_rest(503, "out of memory; retry later");
  } catch (const std::exception& e) {
    answer_rest(500, e.what());
  }
}

void ExplainQueue::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    auto batch = next_batch(lock);
    if (batch.empty()) {
      if (stopping_) return;
      continue;
    }
    lock.unlock();
    run(batch);
    lock.lock();
    running_ = 0;
  }
}

}  // namespace lumos::cli
