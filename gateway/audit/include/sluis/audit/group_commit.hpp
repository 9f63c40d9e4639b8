// The group-commit queue every audit engine's writer uses: callers hand over a request and wait;
// one writer thread takes them in batches and makes each batch durable in one transaction.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sluis::audit {

/// What every request of a GroupCommitQueue holds; an engine's request derives from it.
struct GroupCommitRequest {
  std::vector<std::string> canonical;  ///< the events' canonical bytes; a batch counts these
  bool done = false;                   ///< set (under the queue's mutex) when its batch is done
  /// Woken when this request's batch is done: only the callers a batch served wake up, not
  /// every caller waiting for a later batch.
  std::condition_variable done_cv;
};

/// The queue between callers and one writer thread.
///
/// Batching adapts to the load: while fewer requests are queued than the previous batch
/// served, the writer waits up to `window` for more (a lone caller pays at most one window; a
/// steady load is gathered into batches as large as its concurrency), and a batch holds at most
/// `max_batch_events` events (always at least one request). stop() lets the writer drain what is
/// queued, then ends it.
///
/// Threads: submit() from any thread; next_batch() and complete() from the writer only.
template <std::derived_from<GroupCommitRequest> Request>
class GroupCommitQueue {
 public:
  using Clock = std::chrono::steady_clock;

  GroupCommitQueue(std::chrono::microseconds window, std::size_t max_batch_events)
      : window_(window), max_batch_events_(max_batch_events) {}
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  /// Hands `request` to the writer and waits until its batch is done. False, with nothing
  /// queued, once stop() was called.
  [[nodiscard]] bool submit(Request& request) {
    std::unique_lock lk(mutex_);
    if (stopping_) return false;
    queue_.push_back(&request);
    writer_cv_.notify_one();
    request.done_cv.wait(lk, [&] { return request.done; });
    return true;
  }

  /// The writer's next batch, moved into `batch` (cleared first).
  struct Next {
    bool stopped = false;          ///< stop() was called and the queue is drained: end the loop
    bool deadline_passed = false;  ///< `deadline` passed with nothing queued (batch may be empty)
  };
  /// Waits for requests — or, when `deadline` is given, at most until then — then gathers a
  /// batch as the class comment says.
  [[nodiscard]] Next next_batch(std::vector<Request*>& batch,
                                std::optional<Clock::time_point> deadline = std::nullopt) {
    Next next;
    batch.clear();
    std::unique_lock lk(mutex_);
    if (queue_.empty() && !stopping_) {
      auto ready = [this] { return stopping_ || !queue_.empty(); };
      if (deadline) {
        next.deadline_passed = !writer_cv_.wait_until(lk, *deadline, ready);
      } else {
        writer_cv_.wait(lk, ready);
      }
    }
    if (queue_.empty() && stopping_) {
      next.stopped = true;
      return next;
    }
    if (!stopping_ && queue_.size() < last_batch_requests_ && window_.count() > 0) {
      writer_cv_.wait_for(lk, window_,
                          [this] { return stopping_ || queue_.size() >= last_batch_requests_; });
    }
    std::size_t events = 0;
    std::size_t taken = 0;
    while (taken < queue_.size() &&
           (taken == 0 || events + queue_[taken]->canonical.size() <= max_batch_events_)) {
      events += queue_[taken]->canonical.size();
      batch.push_back(queue_[taken]);
      ++taken;
    }
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(taken));
    last_batch_requests_ = std::max<std::size_t>(taken, 1);
    return next;
  }

  /// Wakes the callers `batch` served (their results set by the writer before).
  void complete(std::span<Request* const> batch) {
    std::lock_guard lk(mutex_);
    for (auto* r : batch) {
      r->done = true;
      r->done_cv.notify_one();
    }
  }

  /// Refuses new requests; the writer drains the queue, then next_batch() says stopped.
  void stop() {
    {
      std::lock_guard lk(mutex_);
      stopping_ = true;
    }
    writer_cv_.notify_one();
  }

 private:
  const std::chrono::microseconds window_;
  const std::size_t max_batch_events_;
  std::mutex mutex_;
  std::condition_variable writer_cv_;
  std::vector<Request*> queue_;
  bool stopping_ = false;
  std::size_t last_batch_requests_ = 1;  ///< callers the previous batch served
};

}  // namespace sluis::audit
