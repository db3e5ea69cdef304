#include "common/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace dapo {
namespace {

thread_local bool tls_inside_pool_task = false;

int threads_from_environment() {
  if (const char* env = std::getenv("DAPO_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, 256);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 256u));
}

class Pool {
 public:
  Pool() : wanted_threads_(threads_from_environment()) {}
  ~Pool() { stop_workers(); }

  int threads() const { return wanted_threads_.load(); }

  void set_threads(int n) {
    std::lock_guard<std::mutex> job_lock(job_mutex_);
    stop_workers();
    wanted_threads_ = std::max(1, std::min(n, 256));
  }

  void run(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
    if (n == 0) return;
    grain = std::max<size_t>(grain, 1);
    const size_t chunks = (n + grain - 1) / grain;
    if (tls_inside_pool_task || chunks == 1 || wanted_threads_ <= 1) {
      fn(0, n);
      return;
    }
    // One job at a time: calls from different threads (main and async workers) queue here.
    std::lock_guard<std::mutex> job_lock(job_mutex_);
    start_workers();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      job_n_ = n;
      job_grain_ = grain;
      next_chunk_ = 0;
      job_chunks_ = chunks;
      active_workers_ = workers_.size();
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    work_on_job();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return active_workers_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void start_workers() {
    const size_t want = static_cast<size_t>(wanted_threads_) - 1;
    if (workers_.size() == want) return;
    stop_workers();
    quit_ = false;
    for (size_t i = 0; i < want; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void work_on_job() {
    tls_inside_pool_task = true;
    for (;;) {
      size_t chunk = next_chunk_.fetch_add(1);
      if (chunk >= job_chunks_) break;
      size_t begin = chunk * job_grain_;
      size_t end = std::min(job_n_, begin + job_grain_);
      try {
        (*job_)(begin, end);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
    tls_inside_pool_task = false;
  }

  void worker_loop() {
    unsigned long seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
      }
      work_on_job();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        --active_workers_;
      }
      done_.notify_one();
    }
  }

  std::atomic<int> wanted_threads_;
  std::vector<std::thread> workers_;
  std::mutex job_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  bool quit_ = false;
  unsigned long generation_ = 0;
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  size_t job_n_ = 0, job_grain_ = 1, job_chunks_ = 0;
  std::atomic<size_t> next_chunk_{0};
  size_t active_workers_ = 0;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool instance;
  return instance;
}

}  // namespace

int num_threads() { return pool().threads(); }
void set_num_threads(int n) { pool().set_threads(n); }
void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
  pool().run(n, grain, fn);
}

}  // namespace dapo
