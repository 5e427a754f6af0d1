#pragma once
// The storage engine: one SQLite file (<data>/nimbus.db), one connection, one writer thread,
// group commit; every domain is a set of tables on it (queues now: queue_tables.h; documents,
// orchestration state and timers later) and every invocation's effects commit through it as
// one api::Effects (api/effects.h).
//
// Why this shape: one fsync costs about as much as thousands of row writes, so the writer
// thread drains every pending operation into ONE transaction, commits once, and only after that
// commit is on disk completes each caller. Acknowledged therefore means durable without paying
// an fsync per operation. Each Effects runs inside a savepoint of that transaction, so it lands
// whole or not at all even when batched with others.
//
// The sync is pipelined under Sync::full: SQLite commits into the WAL without syncing
// (synchronous=NORMAL); when more operations are already waiting, the batch goes to a sync
// thread that fdatasyncs the WAL file, and only then are its notices sent and its operations
// completed, while the writer already runs the next batch. When nothing waits (a sequential
// client), the writer syncs itself: a hand-off would only add thread wake-ups. Durability is unchanged (nothing is acknowledged before a sync that covers it);
// the writer's CPU work and the disk's flush overlap instead of taking turns. Reads run on the
// writer too, so a read may see a batch whose sync is still running: its answer is therefore
// held until every earlier batch is synced (a client never sees data that a crash could take
// back). A failed sync is final (the kernel may have dropped the pages it could not write): that
// batch and every later operation fail, and the host must be restarted, which replays the WAL.
//
// Ownership and threads: the engine owns its connection and its two threads; submit() and
// commit() only enqueue and return. Completions and the notice listener run on the writer
// thread (Sync::normal/off, and under full a batch the writer synced itself or a batch of reads
// with no earlier batch still to be synced) or on the sync thread (batches handed to it), after
// the commit that made their effect durable (notices before completions, so a producer whose
// write was acknowledged knows the triggers were told), in submission order either way. Destruction finishes everything
// already submitted, then joins the threads; later submissions complete at once, on the
// submitting thread, with QueueErrc::unavailable. One process at a time may open a given file.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/effects.h"

namespace nimbus::storage {

struct SqliteDb;

class SqliteEngine final : public api::EffectsStore {
 public:
  // The data format this build writes, kept in the file's PRAGMA user_version; open() refuses
  // a file of a higher one. 1: the layout of 2026-11-30 (durable history rows as JSON arrays,
  // work-item numbers from durable_next_seq, item counts in doc_containers), the first marked.
  // 2: item bodies without `_lsn` (older files are rewritten once at open).
  // 3: full-text index rows for indexingPolicy.fullTextIndexes (added once at open).
  // 4: vector index rows for indexingPolicy.vectorIndexes (added once at open).
  // 5: vector index rows hold -0 as 0 (format 4's are written again once at open).
  // Raise it with any change an older build would misread.
  static constexpr int64_t kDataFormat = 5;

  enum class Sync {
    off,     // no fsync: survives a process crash only while the OS stays up (benchmarks)
    normal,  // WAL without fsync at commit: survives kill -9, may lose the last commits on
             // power loss
    full,    // every group commit synced to disk before any of its operations completes:
             // survives power loss (default). The sync runs on its own thread (see below).
  };
  struct Options {
    std::string path;  // the database file, e.g. <data>/nimbus.db
    Sync sync = Sync::full;
    size_t max_batch = 4096;  // operations per transaction at most
    // Group-commit window, under Sync::full only (the fsync, and the wake-ups around it, are
    // what it amortizes): when other operations were in flight within the last
    // `window_recent`, the writer holds a batch open up to `commit_window` so one fsync covers
    // many clients' operations. It closes early once as many operations are pending as recent
    // batches held, or when none arrived for `window_idle`. A lone sequential client never
    // overlaps another operation, so it never waits: its operation commits as soon as the
    // writer sees it. A zero commit_window turns the window off.
    // When every pending operation is patient (a request of an outside API client), the
    // window closes at as many as there are active clients instead: see Op::patient.
    std::chrono::microseconds commit_window{10000};
    std::chrono::microseconds window_idle{3000};
    std::chrono::milliseconds window_recent{50};
    // Expired queue messages are invisible at once; their rows are deleted this often.
    std::chrono::milliseconds sweep_interval{30000};
    // Wall clock in Unix ms; tests inject a fake one to step through visibility and expiry.
    std::function<api::UnixMillis()> clock;
  };

  // One operation of a table set: its body runs inside the batch transaction on the writer
  // thread (it may throw SqlError, which fails the whole batch), its completion after commit.
  struct Op {
    virtual ~Op() = default;
    virtual void execute(SqliteDb& db) = 0;
    virtual void complete(const api::QueueError* failure) = 0;
    // A patient operation (an outside API client's request) may wait in the commit window
    // until as many operations are pending as there are active clients (note_active_clients)
    // rather than as many as recent batches held, or until arrivals pause. Why: the recent
    // batches rule learns the concurrency from what arrives together, which is right for work
    // whose every participant is in the engine (an orchestration's next step waits on this
    // very commit). A client that is itself the bottleneck (an SDK spending a millisecond or
    // more of its own CPU per request, 64 requests in flight on 64 connections) sends its
    // requests one at a time, so two or three are pending together; the rule then closes each
    // window at two or three, and each fsync (about 0.2 ms of kernel CPU on this machine)
    // serves two or three requests. Waiting a few milliseconds costs such a client nothing:
    // its backlog of answers keeps it busy. Clients that all wait on this commit (8 loops of
    // get-then-delete) are all pending, so the window closes at once, as before. Still only
    // under overlap (window_recent): a lone sequential client never waits. An impatient
    // operation arriving returns the window to the usual rule.
    bool patient = false;
  };

  // Opens (creating the file and every table set's schema when missing) and starts the writer
  // thread. Returns nullptr with `error` naming the file and the fix when it cannot be used.
  static std::unique_ptr<SqliteEngine> open(Options options, std::string& error);
  ~SqliteEngine() override;
  SqliteEngine(const SqliteEngine&) = delete;
  SqliteEngine& operator=(const SqliteEngine&) = delete;

  static bool parse_sync(std::string_view text, Sync& out);  // "off" | "normal" | "full"

  // Whose operations a table set's store submits: the host's own (a trigger's fetch, the CLI,
  // bindings; they commit as soon as the usual group-commit rule allows) or an outside API
  // client's (the queue REST service, the Cosmos DB endpoint), whose operations are patient
  // (Op::patient). Effects commits are never patient: a trigger or a function waits on them.
  enum class Callers { host, api_clients };

  void submit(std::unique_ptr<Op> op);
  // About how many outside clients are active (a service counts its connections with a
  // request lately): a window holding only patient operations closes once that many are
  // pending, since each such client has one request in flight at a time (Op::patient).
  void note_active_clients(size_t clients) {
    active_clients_.store(clients, std::memory_order_relaxed);
  }
  // For an operation that only reads (a point read): runs it at once on the calling thread
  // when the writer is not using the connection and every committed batch is synced (so the
  // answer cannot show a write that a crash could take back); otherwise it is submitted like
  // any other. Why: a point read queued to the writer costs two thread wake-ups and the
  // context switches around them, several times the read itself. The caller's thread blocks
  // for the read (pages are normally cached); do not use it for scans.
  void submit_read(std::unique_ptr<Op> op);
  // Reads that submit_read() ran on the calling thread (a benchmark and test aid).
  uint64_t inline_read_count() const { return inline_reads_.load(std::memory_order_relaxed); }
  void commit(api::Effects effects, api::QueueCallback<api::CommitReceipt> done) override;
  void set_notice_listener(api::NoticeListener listener) override;

  // Transactions committed so far (a benchmark and test aid: ops / commits = batch size).
  uint64_t commit_count() const;
  // Whether open() ran the page-by-page check (PRAGMA quick_check): always, unless the file
  // was exactly as a clean shutdown of this engine left it (tests).
  bool checked_pages_at_open() const { return checked_pages_at_open_; }
  // Batches whose commit waited for the window (a benchmark and test aid).
  uint64_t windowed_count() const { return windowed_.load(std::memory_order_relaxed); }
  const std::string& path() const { return options_.path; }

 private:
  explicit SqliteEngine(Options options);
  void run();
  void run_batch(std::deque<std::unique_ptr<Op>>& batch);
  // Under mu_: holds the batch open for the window when other operations overlapped lately.
  void wait_for_window(std::unique_lock<std::mutex>& lk);
  void sweep();
  void notify(std::vector<api::CommitNotice>& notices);
  // Sync::full: the sync thread's loop; one fdatasync of the WAL ("" or what failed, recorded
  // for good); the recorded failure ("" while every sync succeeded).
  void run_syncer();
  std::string sync_wal();
  std::string sync_failure();

  // A committed batch waiting for the sync thread: its operations, its notices, and whether it
  // wrote anything (a batch of reads only needs the syncs before it, not one of its own).
  struct Committed {
    std::deque<std::unique_ptr<Op>> ops;
    std::vector<api::CommitNotice> notices;
    bool wrote = false;
  };

  Options options_;
  std::unique_ptr<SqliteDb> db_;  // after open(): used under db_mu_ only
  // Held by the writer for a batch (execute, commit, its own sync) and by submit_read() for a
  // read on the caller's thread: one thread at a time on the connection.
  std::mutex db_mu_;
  bool closed_ = false;  // guarded by db_mu_: the destructor is tearing the connection down
  std::atomic<uint64_t> inline_reads_{0};
  bool checked_pages_at_open_ = true;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Op>> pending_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  // The writer wants a notify when pending_ reaches this many (1: it waits for any work).
  size_t wake_at_ = 1;                                    // guarded by mu_
  size_t pending_impatient_ = 0;  // guarded by mu_: operations in pending_ that are not patient
  bool executing_ = false;                                // guarded by mu_: a batch is running
  std::chrono::steady_clock::time_point last_overlap_{};  // guarded by mu_
  std::chrono::steady_clock::time_point last_submit_{};   // guarded by mu_
  double recent_batch_ = 0;  // writer thread only: decaying maximum of recent batch sizes
  double arrival_gap_us_ = 0;  // guarded by mu_: moving mean of gaps before patient arrivals
  api::NoticeListener listener_;             // guarded by mu_ (copied per batch)
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> windowed_{0};
  std::atomic<size_t> active_clients_{0};
  std::thread thread_;

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::deque<Committed> to_sync_;  // guarded by sync_mu_
  bool syncing_ = false;           // guarded by sync_mu_: the sync thread holds batches
  bool sync_stopping_ = false;     // guarded by sync_mu_
  std::string sync_failure_;       // guarded by sync_mu_: set once, by a failed sync; final
  int wal_fd_ = -1;  // the WAL file, opened at the first sync; used by one thread at a time
                    // (the writer only while the sync thread is idle with nothing queued)
  std::thread syncer_;
};

// What every store on the engine holds (SqliteQueueStore, SqliteDocumentStore): the engine,
// borrowed from the host or its own when the store was opened alone (destroyed with the store,
// joining its threads), and whose operations it submits (Callers::api_clients makes them
// patient, and only then does the active-client count reach the engine).
class EngineClient {
 public:
  EngineClient(SqliteEngine& engine, SqliteEngine::Callers callers)
      : engine_(engine), patient_(callers == SqliteEngine::Callers::api_clients) {}
  EngineClient(std::unique_ptr<SqliteEngine> owned, SqliteEngine::Callers callers)
      : owned_(std::move(owned)), engine_(*owned_),
        patient_(callers == SqliteEngine::Callers::api_clients) {}

  SqliteEngine& engine() const { return engine_; }
  void submit(std::unique_ptr<SqliteEngine::Op> op) const {
    op->patient = patient_;
    engine_.submit(std::move(op));
  }
  void note_active_clients(size_t clients) const {
    if (patient_) engine_.note_active_clients(clients);
  }

 private:
  std::unique_ptr<SqliteEngine> owned_;
  SqliteEngine& engine_;
  const bool patient_;
};

// An Op from a body returning a QueueResult<T> and the caller's callback.
template <class T>
struct TypedOp final : SqliteEngine::Op {
  std::function<api::QueueResult<T>(SqliteDb&)> body;
  api::QueueCallback<T> done;
  std::optional<api::QueueResult<T>> result;

  TypedOp(std::function<api::QueueResult<T>(SqliteDb&)> b, api::QueueCallback<T> d)
      : body(std::move(b)), done(std::move(d)) {}
  void execute(SqliteDb& db) override { result.emplace(body(db)); }
  void complete(const api::QueueError* failure) override {
    if (!done) return;
    if (failure || !result) {
      done(failure ? *failure
                   : api::QueueError{api::QueueErrc::storage_failure, "operation did not run"});
    } else {
      done(std::move(*result));
    }
  }
};

template <class T, class F>
std::unique_ptr<SqliteEngine::Op> make_op(F&& body, api::QueueCallback<T> done) {
  return std::make_unique<TypedOp<T>>(std::forward<F>(body), std::move(done));
}

}  // namespace nimbus::storage
