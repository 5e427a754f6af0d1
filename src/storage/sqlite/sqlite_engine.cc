#include "storage/sqlite/sqlite_engine.h"

#include <filesystem>
#include <fstream>

#include <sys/stat.h>

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <new>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "common/completion_inbox.h"
#include "common/ids.h"
#include "storage/sqlite/access_tables.h"
#include "storage/sqlite/document_tables.h"
#include "storage/sqlite/durable_tables.h"
#include "storage/sqlite/timer_tables.h"
#include "storage/sqlite/queue_tables.h"
#include "storage/sqlite/sqlite_db.h"

namespace nimbus::storage {

using api::QueueErrc;
using api::QueueError;

namespace {

// The schema of every table set on the engine, created at open when missing.
const char* const kTableSets[] = {queue_tables::kSchema, document_tables::kSchema, access_tables::kSchema,
                                  durable_tables::kSchema, timer_tables::kSchema};

QueueError err(QueueErrc code, std::string message) { return QueueError{code, std::move(message)}; }

UnixMillis system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The database file as a clean shutdown left it: size, modification time and inode, written
// beside it ("<db>.clean") after the last connection closed. A start that finds the file
// exactly so skips the page-by-page check (linear in the file: seconds for a large store);
// after a crash, or if anything touched the file since, the marker is missing or differs and
// the check runs. The marker is removed as the store opens, so a crash never leaves one.
std::string file_fingerprint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_ino);
}

bool left_clean(const std::string& path) {
  std::string marker = path + ".clean";
  std::ifstream in(marker);
  std::string recorded;
  std::getline(in, recorded);
  bool ok = in.good() || in.eof();
  ::unlink(marker.c_str());
  return ok && !recorded.empty() && recorded == file_fingerprint(path);
}

// A VFS over the platform's default that writes the WAL frames of a commit with one write.
// SQLite writes a frame as its 24-byte header and then its page, two pwrite calls at adjacent
// offsets, and a commit of N pages as N such frames: 2N system calls, each paying the kernel's
// per-call cost (file lookup, inode lock, timestamps) on top of the page copy. Here the frames
// gather in a buffer while they are contiguous, and go down in one write when the commit frame
// (the one whose header carries the database size, non-zero only on a commit's last frame)
// arrives. Any other call on the file (a read, a write elsewhere such as a frame rewritten in
// place or the WAL header, a sync, a truncate, a size query) writes what is gathered first, and
// a gathering that another frame would take past kMaxWrite is written at once. So every byte
// SQLite wrote to the WAL is in the file when its commit returns, before the engine's
// fdatasync (made on a descriptor of its own, which this VFS does not see), exactly as without
// this VFS; a crash before the commit frame loses only frames no commit covered, as it would
// without it. Test: SqliteQueueStore.EveryAcknowledgedPutIsInTheFileWhenItsCallbackRuns.
// Other files pass through.
namespace wal_frames {

constexpr int kHeader = 24;  // WAL_FRAME_HDRSIZE
// The most the unix VFS writes in one call: it masks a write's length to 17 bits
// (seekAndWriteFd, `nBuf &= 0x1ffff`), so a longer one fails as a full disk. A larger commit
// goes down in writes of up to 31 frames of 4 KiB pages.
constexpr size_t kMaxWrite = 0x1ffff;

struct File {
  sqlite3_file base;
  sqlite3_file* real;  // the default VFS's file, allocated right after this struct
  bool wal = false;
  bool header_last = false;  // the gathering ends with a frame header, its page not yet here
  bool commit_frame = false;  // that header is a commit's last frame
  sqlite3_int64 gathered_at = 0;
  std::string gathered;  // whole frames (and at most one trailing header), not yet written
};

sqlite3_vfs* root() { return sqlite3_vfs_find(nullptr); }
sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

int flush(File* f) {
  if (f->gathered.empty()) return SQLITE_OK;
  int rc = f->real->pMethods->xWrite(f->real, f->gathered.data(),
                                     static_cast<int>(f->gathered.size()), f->gathered_at);
  f->gathered.clear();
  f->header_last = false;
  return rc;
}

int x_close(sqlite3_file* p) {
  auto* f = reinterpret_cast<File*>(p);
  int rc = flush(f);
  int rc2 = f->real->pMethods->xClose(f->real);
  f->gathered.~basic_string();
  return rc != SQLITE_OK ? rc : rc2;
}
int x_read(sqlite3_file* p, void* buf, int n, sqlite3_int64 off) {
  if (int rc = flush(reinterpret_cast<File*>(p)); rc != SQLITE_OK) return rc;
  return real(p)->pMethods->xRead(real(p), buf, n, off);
}
int x_write(sqlite3_file* p, const void* buf, int n, sqlite3_int64 off) {
  auto* f = reinterpret_cast<File*>(p);
  if (f->wal) {
    const auto* bytes = static_cast<const unsigned char*>(buf);
    bool follows = !f->gathered.empty() &&
                   off == f->gathered_at + static_cast<sqlite3_int64>(f->gathered.size());
    if (f->header_last && follows && n != kHeader) {  // the page of the gathered header
      f->gathered.append(reinterpret_cast<const char*>(bytes), static_cast<size_t>(n));
      f->header_last = false;
      if (f->commit_frame || f->gathered.size() + kHeader + static_cast<size_t>(n) > kMaxWrite)
        return flush(f);
      return SQLITE_OK;
    }
    if (n == kHeader && !f->header_last) {  // a frame header: gather it, its page comes next
      if (!follows) {
        if (int rc = flush(f); rc != SQLITE_OK) return rc;
        f->gathered_at = off;
      }
      f->gathered.append(reinterpret_cast<const char*>(bytes), kHeader);
      f->header_last = true;
      // Bytes 4-7: the database size in pages after a commit, on its last frame only.
      f->commit_frame = (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
      return SQLITE_OK;
    }
    if (int rc = flush(f); rc != SQLITE_OK) return rc;
  }
  return f->real->pMethods->xWrite(f->real, buf, n, off);
}
int x_truncate(sqlite3_file* p, sqlite3_int64 size) {
  if (int rc = flush(reinterpret_cast<File*>(p)); rc != SQLITE_OK) return rc;
  return real(p)->pMethods->xTruncate(real(p), size);
}
int x_sync(sqlite3_file* p, int flags) {
  if (int rc = flush(reinterpret_cast<File*>(p)); rc != SQLITE_OK) return rc;
  return real(p)->pMethods->xSync(real(p), flags);
}
int x_file_size(sqlite3_file* p, sqlite3_int64* size) {
  if (int rc = flush(reinterpret_cast<File*>(p)); rc != SQLITE_OK) return rc;
  return real(p)->pMethods->xFileSize(real(p), size);
}
int x_lock(sqlite3_file* p, int l) { return real(p)->pMethods->xLock(real(p), l); }
int x_unlock(sqlite3_file* p, int l) { return real(p)->pMethods->xUnlock(real(p), l); }
int x_check_reserved_lock(sqlite3_file* p, int* out) {
  return real(p)->pMethods->xCheckReservedLock(real(p), out);
}
int x_file_control(sqlite3_file* p, int op, void* arg) {
  if (int rc = flush(reinterpret_cast<File*>(p)); rc != SQLITE_OK) return rc;
  return real(p)->pMethods->xFileControl(real(p), op, arg);
}
int x_sector_size(sqlite3_file* p) { return real(p)->pMethods->xSectorSize(real(p)); }
int x_device_characteristics(sqlite3_file* p) {
  return real(p)->pMethods->xDeviceCharacteristics(real(p));
}
int x_shm_map(sqlite3_file* p, int pg, int sz, int extend, void volatile** out) {
  return real(p)->pMethods->xShmMap(real(p), pg, sz, extend, out);
}
int x_shm_lock(sqlite3_file* p, int offset, int n, int flags) {
  return real(p)->pMethods->xShmLock(real(p), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* p) { real(p)->pMethods->xShmBarrier(real(p)); }
int x_shm_unmap(sqlite3_file* p, int del) { return real(p)->pMethods->xShmUnmap(real(p), del); }
int x_fetch(sqlite3_file* p, sqlite3_int64 off, int n, void** out) {
  if (int rc = flush(reinterpret_cast<File*>(p)); rc != SQLITE_OK) return rc;
  return real(p)->pMethods->xFetch(real(p), off, n, out);
}
int x_unfetch(sqlite3_file* p, sqlite3_int64 off, void* ptr) {
  return real(p)->pMethods->xUnfetch(real(p), off, ptr);
}

// Version 3 methods (shm, mmap); open() only wraps a file whose own methods are version 3, as
// the unix VFS's are.
const sqlite3_io_methods kMethods = {
    3,        x_close,        x_read,        x_write,      x_truncate,
    x_sync,   x_file_size,    x_lock,        x_unlock,     x_check_reserved_lock,
    x_file_control, x_sector_size, x_device_characteristics, x_shm_map, x_shm_lock,
    x_shm_barrier, x_shm_unmap, x_fetch,     x_unfetch};

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* p, int flags, int* out_flags) {
  auto* f = reinterpret_cast<File*>(p);
  sqlite3_vfs* base = static_cast<sqlite3_vfs*>(vfs->pAppData);
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  int rc = base->xOpen(base, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK || !f->real->pMethods) {
    p->pMethods = nullptr;  // nothing to close
    return rc;
  }
  if (f->real->pMethods->iVersion < 3) {  // not the VFS this was written for: do not wrap
    f->real->pMethods->xClose(f->real);
    p->pMethods = nullptr;
    return SQLITE_CANTOPEN;
  }
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->header_last = false;
  f->commit_frame = false;
  f->gathered_at = 0;
  new (&f->gathered) std::string();
  p->pMethods = &kMethods;
  return SQLITE_OK;
}

// The VFS itself: the default one with this xOpen and room for File. Registered once, not as
// the default; the engine names it when it opens its connection.
sqlite3_vfs* vfs() {
  static sqlite3_vfs* registered = [] () -> sqlite3_vfs* {
    sqlite3_vfs* base = root();
    if (!base) return nullptr;
    static sqlite3_vfs v = *base;
    v.pNext = nullptr;
    v.zName = "nimbus-wal-frames";
    v.szOsFile = static_cast<int>(sizeof(File)) + base->szOsFile;
    v.pAppData = base;
    v.xOpen = x_open;
    if (sqlite3_vfs_register(&v, 0) != SQLITE_OK) return nullptr;
    return &v;
  }();
  return registered;
}

}  // namespace wal_frames

// Applies one Effects inside the batch transaction, all or nothing: every part is checked
// before anything is written, then the parts run inside a savepoint that is rolled back if
// the acknowledgement or a write does not hold. Table sets own their parts (queue_tables::apply,
// document_tables::apply).
using WriteOutcome = std::variant<api::WriteReceipt, QueueError>;
WriteOutcome apply_write(SqliteDb& db, const api::QueuePut& p) { return api::WriteReceipt(queue_tables::apply(db, p)); }
WriteOutcome apply_write(SqliteDb& db, const api::DocumentUpsert& p) { return document_tables::apply(db, p); }
WriteOutcome apply_write(SqliteDb& db, const api::DocumentDelete& p) { return document_tables::apply(db, p); }
WriteOutcome apply_write(SqliteDb& db, const api::OrchestrationStart& p) { return durable_tables::apply(db, p); }
WriteOutcome apply_write(SqliteDb& db, const api::OrchestrationEvent& p) { return durable_tables::apply(db, p); }
WriteOutcome apply_write(SqliteDb& db, const api::ActivityTask& p) { return durable_tables::apply(db, p); }

api::QueueResult<api::CommitReceipt> apply_effects(SqliteDb& db, const api::Effects& fx) {
  using document_tables::check;
  using durable_tables::check;
  using queue_tables::check;
  if (fx.ack)
    if (auto e = std::visit([](const auto& a) { return check(a); }, *fx.ack))
      return *e;
  for (const auto& w : fx.writes)
    if (auto e = std::visit([](const auto& p) { return check(p); }, w)) return *e;
  size_t notices_before = db.notices.size();
  auto savepoint = [&](const char* sql) {
    auto st = db.q(sql);
    st.step();
  };
  savepoint("SAVEPOINT effects");
  api::CommitReceipt receipt;
  if (fx.ack) {
    std::optional<QueueError> failed;
    if (auto* q = std::get_if<api::QueueAck>(&*fx.ack)) {
      auto acked = queue_tables::apply(db, *q);
      if (auto* e = std::get_if<QueueError>(&acked)) failed = *e;
      else receipt.dead_letter = std::move(std::get<0>(acked));
    } else if (auto* l = std::get_if<api::LeaseAdvance>(&*fx.ack)) {
      auto acked = document_tables::apply(db, *l);
      if (auto* e = std::get_if<QueueError>(&acked)) failed = *e;
      else receipt.lease = std::move(std::get<0>(acked));
    } else if (auto* ep = std::get_if<api::EpisodeAck>(&*fx.ack)) {
      failed = durable_tables::apply(db, *ep);
    } else {
      failed = durable_tables::apply(db, std::get<api::ActivityAck>(*fx.ack));
    }
    if (failed) {
      savepoint("ROLLBACK TO effects");
      savepoint("RELEASE effects");
      db.notices.resize(notices_before);
      return *failed;
    }
  }
  receipt.writes.reserve(fx.writes.size());
  for (const auto& w : fx.writes) {
    auto outcome = std::visit([&](const auto& p) { return apply_write(db, p); }, w);
    if (auto* e = std::get_if<QueueError>(&outcome)) {  // e.g. a document's container is gone
      savepoint("ROLLBACK TO effects");
      savepoint("RELEASE effects");
      db.notices.resize(notices_before);
      return *e;
    }
    receipt.writes.push_back(std::move(std::get<api::WriteReceipt>(outcome)));
  }
  savepoint("RELEASE effects");
  return receipt;
}

}  // namespace

SqliteEngine::SqliteEngine(Options options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = system_now_ms;
}

bool SqliteEngine::parse_sync(std::string_view text, Sync& out) {
  if (text == "off") out = Sync::off;
  else if (text == "normal") out = Sync::normal;
  else if (text == "full") out = Sync::full;
  else return false;
  return true;
}

namespace {

// What to do about a database file that cannot be trusted: said the same way for every cause.
std::string damaged(const std::string& path, const std::string& detail) {
  return "the queue database " + path + " is damaged (" + detail +
         "); Nimbus will not serve from it, because it could hand out wrong or partial data. "
         "To recover: stop every process using it, move the damaged file aside (mv " + path +
         " " + path + ".damaged, and " + path + "-wal and " + path +
         "-shm if present) and start again, which starts with an empty queue store; or restore " +
         path + " from a backup";
}

}  // namespace

std::unique_ptr<SqliteEngine> SqliteEngine::open(Options options, std::string& error) {
  std::unique_ptr<SqliteEngine> store(new SqliteEngine(std::move(options)));
  auto db = std::make_unique<SqliteDb>();
  const std::string& path = store->options_.path;
  // Queue contents are the application's data: create the file owner-only. SQLite gives the
  // -wal and -shm files it creates later the permissions of the database file.
  if (int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    error = "cannot create the queue database " + path + ": " + std::strerror(errno) +
            "; check that the data directory exists and is writable";
    return nullptr;
  }
  bool skip_check = left_clean(path);
  store->checked_pages_at_open_ = !skip_check;
  // Without memory statistics SQLite's allocator takes no global mutex: they cost ~4 % of the
  // writer's instructions per item write. Only possible before SQLite initializes, so once,
  // at the first open; refused (harmlessly) if something else initialized it first.
  static std::once_flag no_memstatus;
  std::call_once(no_memstatus, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3_vfs* vfs = wal_frames::vfs();  // null only if SQLite has no default VFS
  int rc = sqlite3_open_v2(path.c_str(), &db->conn,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           vfs ? vfs->zName : nullptr);
  if (rc != SQLITE_OK) {
    error = "cannot open the queue database " + path + ": " +
            (db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc)) +
            "; check that the data directory exists and is writable";
    return nullptr;
  }
  // Opening waits briefly for a lock: the one reason to wait here is another process on the
  // same file, and it keeps its lock for its life (locking_mode EXCLUSIVE below).
  sqlite3_busy_timeout(db->conn, 2000);
  auto is_damage = [&] {
    int code = sqlite3_errcode(db->conn) & 0xff;
    return code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
  };
  try {
    db->exec("PRAGMA journal_mode=WAL");
    // Random bytes in a page can leave a file SQLite opens happily and then serves partly:
    // check every page's structure before the first request (linear in the file size),
    // unless the file is exactly as a clean shutdown left it (left_clean).
    if (!skip_check) {
      sqlite3_stmt* check = nullptr;
      if (sqlite3_prepare_v2(db->conn, "PRAGMA quick_check(5)", -1, &check, nullptr) != SQLITE_OK)
        db->fail("quick_check");
      std::string problems;
      int step;
      while ((step = sqlite3_step(check)) == SQLITE_ROW) {
        auto text = reinterpret_cast<const char*>(sqlite3_column_text(check, 0));
        std::string line = text ? text : "";
        if (line == "ok") continue;
        if (!problems.empty()) problems += "; ";
        problems += line;
      }
      sqlite3_finalize(check);
      if (step != SQLITE_DONE) db->fail("quick_check");
      if (!problems.empty()) {
        error = damaged(path, "PRAGMA quick_check found: " + problems);
        return nullptr;
      }
    }
    // The file's data format (PRAGMA user_version). A build refuses a file of a newer format
    // than it writes: it could misread rows it does not know and write them back wrong.
    // Unmarked files (0) come from builds before formats were marked, or are new.
    int64_t format = 0;
    {
      auto st = db->q("PRAGMA user_version");
      format = st.step() ? st.i64(0) : 0;
      if (format > kDataFormat) {
        error = path + " holds data format " + std::to_string(format) +
                ", written by a newer Nimbus; this build reads formats up to " +
                std::to_string(kDataFormat) +
                ". Run that newer version (or a later one) on this data directory, or give "
                "this one its own --data DIR";
        return nullptr;
      }
    }
    switch (store->options_.sync) {
      case Sync::off: db->exec("PRAGMA synchronous=OFF"); break;
      case Sync::normal: db->exec("PRAGMA synchronous=NORMAL"); break;
      case Sync::full: db->exec("PRAGMA synchronous=FULL"); break;
    }
    db->exec("PRAGMA cache_size=-65536");  // 64 MiB: keeps a 200,000-deep queue's index hot
    db->exec("PRAGMA temp_store=MEMORY");
    for (const char* schema : kTableSets) db->exec(schema);
    queue_tables::migrate(*db);
    document_tables::migrate(*db, format);
    if (format != kDataFormat) db->exec(("PRAGMA user_version=" + std::to_string(kDataFormat)).c_str());
    // One process owns the file (see the header): keeping its locks for the connection's life
    // spares every transaction the fcntl lock and unlock calls of the file and the WAL index
    // (six per commit). Set after the first WAL access, so the -shm file is kept as before.
    db->exec("PRAGMA locking_mode=EXCLUSIVE");
    db->exec("BEGIN IMMEDIATE");  // take the locks now, so a second process is told at its start
    db->exec("COMMIT");
    durable_tables::open_next_seq(*db);  // the file is ours now: nobody else takes numbers
    // Everything up to here committed under the mode asked for (the schema is synced under
    // full). From now on the sync thread makes commits durable (see the header), so SQLite
    // itself must not sync at each commit; it still syncs around its checkpoints.
    if (store->options_.sync == Sync::full) db->exec("PRAGMA synchronous=NORMAL");
    sqlite3_busy_timeout(db->conn, 10000);
  } catch (const SqlError& e) {
    if (is_damage()) {
      error = damaged(path, e.what());
    } else if ((sqlite3_errcode(db->conn) & 0xff) == SQLITE_BUSY) {
      error = path + " is in use by another process (a nimbus host, nimbus-queue-server or "
                     "nimbus-docs-server on the same data directory); one process owns a data "
                     "directory: stop the other one, or give this one its own --data DIR";
    } else {
      error = "cannot prepare the queue database " + path + ": " + e.what() +
              "; if the file is not a Nimbus database, move it away";
    }
    return nullptr;
  }
  std::string seed = random_bytes(sizeof(uint64_t) * 4);
  std::seed_seq seq(seed.begin(), seed.end());
  db->rng.seed(seq);
  store->db_ = std::move(db);
  // Named so that top, perf and the benchmarks' per-thread figures can tell them apart.
  store->thread_ = std::thread([s = store.get()] {
    pthread_setname_np(pthread_self(), "store-writer");
    s->run();
  });
  if (store->options_.sync == Sync::full)
    store->syncer_ = std::thread([s = store.get()] {
      pthread_setname_np(pthread_self(), "store-sync");
      s->run_syncer();
    });
  return store;
}

SqliteEngine::~SqliteEngine() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The writer has handed over its last batch; the sync thread drains them all, then ends.
  {
    std::lock_guard lk(sync_mu_);
    sync_stopping_ = true;
  }
  sync_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (wal_fd_ >= 0) ::close(wal_fd_);
  {
    std::lock_guard dbl(db_mu_);  // a read on another thread finishes first; later ones queue
    closed_ = true;
  }
  // Everything is committed; closing checkpoints the WAL into the file. Only then is the file
  // as the next start will find it.
  std::string path = options_.path;
  bool had_db = db_ != nullptr;
  db_.reset();
  if (had_db) {
    // Stamp the file's mtime with a random nanosecond part: a later write sets the kernel's
    // (coarse) clock instead, so even one made in the same clock tick as this shutdown
    // changes the fingerprint (a match by chance: about one in a billion).
    timespec stamp[2];
    stamp[0].tv_nsec = UTIME_OMIT;
    timespec_get(&stamp[1], TIME_UTC);
    uint32_t r = 0;
    std::string bytes = random_bytes(sizeof r);
    std::memcpy(&r, bytes.data(), sizeof r);
    stamp[1].tv_nsec = static_cast<long>(r % 1000000000u);
    ::utimensat(AT_FDCWD, path.c_str(), stamp, 0);
    std::string print = file_fingerprint(path);
    std::string tmp = path + ".clean.tmp";
    if (!print.empty()) {
      std::ofstream out(tmp, std::ios::trunc);
      out << print << "\n";
      out.close();
      if (out) std::rename(tmp.c_str(), (path + ".clean").c_str());
    }
  }
}

uint64_t SqliteEngine::commit_count() const { return commits_.load(); }

void SqliteEngine::set_notice_listener(api::NoticeListener listener) {
  std::lock_guard lk(mu_);
  listener_ = std::move(listener);
}

void SqliteEngine::submit(std::unique_ptr<Op> op) {
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      auto now = std::chrono::steady_clock::now();
      if (op->patient && last_submit_.time_since_epoch().count() != 0) {
        // The rhythm of patient arrivals, for a patient window's pause (wait_for_window).
        double gap = std::chrono::duration<double, std::micro>(now - last_submit_).count();
        gap = std::min(gap, static_cast<double>(options_.commit_window.count()));
        arrival_gap_us_ = 0.875 * arrival_gap_us_ + 0.125 * gap;
      }
      last_submit_ = now;
      // Another operation in flight: concurrent clients, for whom a commit window pays off.
      if (executing_ || !pending_.empty()) last_overlap_ = last_submit_;
      bool impatient = !op->patient;
      pending_impatient_ += impatient;
      pending_.push_back(std::move(op));
      // Only the one notify the writer waits for: no wake-up (futex) per operation while it
      // holds a window open or runs a batch. The first impatient operation in a patient window
      // wakes it too: the window's target changes.
      if (pending_.size() == wake_at_ || (impatient && pending_impatient_ == 1 && wake_at_ > 1))
        cv_.notify_one();
      return;
    }
  }
  QueueError e = err(QueueErrc::unavailable, "the store is shutting down; retry later");
  op->complete(&e);
}

void SqliteEngine::submit_read(std::unique_ptr<Op> op) {
  std::unique_lock dbl(db_mu_, std::try_to_lock);
  bool now = dbl.owns_lock() && !closed_;
  if (now && options_.sync == Sync::full) {
    // A batch committed but not yet synced (or a failed sync) may be visible on the
    // connection: only the writer's queue holds a read until the syncs before it.
    std::lock_guard lk(sync_mu_);
    now = !syncing_ && to_sync_.empty() && sync_failure_.empty();
  }
  if (!now) {
    if (dbl.owns_lock()) dbl.unlock();
    return submit(std::move(op));
  }
  std::optional<QueueError> failure;
  try {
    db_->now = options_.clock();
    op->execute(*db_);
  } catch (const SqlError& e) {
    failure = err(QueueErrc::storage_failure,
                  std::string("read on ") + options_.path + " failed: " + e.what() + "; retry");
  }
  dbl.unlock();
  inline_reads_.fetch_add(1, std::memory_order_relaxed);
  op->complete(failure ? &*failure : nullptr);
}

void SqliteEngine::run() {
  auto next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
  std::deque<std::unique_ptr<Op>> batch;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_until(lk, next_sweep, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty() && stopping_) break;
      if (!pending_.empty()) wait_for_window(lk);
      size_t n = std::min(pending_.size(), options_.max_batch);
      for (size_t i = 0; i < n; ++i) {
        pending_impatient_ -= !pending_.front()->patient;
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      executing_ = n > 0;
    }
    if (!batch.empty()) {
      // A decaying maximum: how many operations concurrent clients keep in flight lately.
      recent_batch_ = std::max(static_cast<double>(batch.size()), recent_batch_ * 0.875);
      run_batch(batch);
    }
    batch.clear();
    if (std::chrono::steady_clock::now() >= next_sweep) {
      std::lock_guard dbl(db_mu_);
      sweep();
      next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
    }
  }
}

void SqliteEngine::wait_for_window(std::unique_lock<std::mutex>& lk) {
  if (options_.sync != Sync::full || options_.commit_window.count() <= 0 || stopping_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_overlap_ > options_.window_recent) return;  // a lone client: commit at once
  const auto recent = std::clamp<size_t>(static_cast<size_t>(std::ceil(recent_batch_)), 2,
                                         options_.max_batch);
  // Patient operations only: half as many as there are active clients (Op::patient; the
  // count of clients may be twice the truth: a client's HTTP agent may move its requests
  // between its idle connections).
  auto target = [&] {
    if (pending_impatient_ != 0) return recent;
    return std::clamp(std::max(recent, active_clients_.load(std::memory_order_relaxed) / 2),
                      size_t{2}, options_.max_batch);
  };
  if (pending_.size() >= target()) return;
  windowed_.fetch_add(1, std::memory_order_relaxed);
  // Closes at the deadline, when `target` operations are pending, or when none arrived for
  // window_idle: the others in flight were waiting for this very commit, not coming.
  auto deadline = now + options_.commit_window;
  auto full = [&] {
    wake_at_ = target();
    return stopping_ || pending_.size() >= wake_at_;
  };
  // A pause: window_idle without an arrival; with only patient operations pending, three of
  // the usual gaps between their arrivals if that is longer (a slow client whose requests
  // come every 2 ms is not late after 3 ms), up to the window itself.
  auto idle = [&] {
    if (pending_impatient_ != 0) return options_.window_idle;
    auto usual = std::chrono::microseconds(static_cast<int64_t>(3 * arrival_gap_us_));
    return std::clamp(usual, options_.window_idle, options_.commit_window);
  };
  for (;;) {
    auto idle_end = last_submit_ + idle();
    if (cv_.wait_until(lk, std::min(deadline, idle_end), full)) break;
    auto t = std::chrono::steady_clock::now();
    if (t >= deadline || last_submit_ + idle() <= t) break;
  }
  wake_at_ = 1;
  // Nobody joined: the concurrency has ended (a client gone sequential after a burst). No
  // more windows until operations overlap again.
  if (pending_.size() <= 1) last_overlap_ = {};
}

void SqliteEngine::run_batch(std::deque<std::unique_ptr<Op>>& batch) {
  // Until the batch is committed and either synced or handed to the sync thread (whose queue
  // submit_read() checks); completions run after.
  std::unique_lock dbl(db_mu_);
  SqliteDb& db = *db_;
  // Completions may start new operations at once (the next put of a client): from here on
  // they are not "in flight with" this batch.
  auto executed = [this] {
    std::lock_guard lk(mu_);
    executing_ = false;
  };
  auto fail_all = [&](const std::string& message) {
    QueueError failure = err(QueueErrc::storage_failure, message);
    if (dbl.owns_lock()) dbl.unlock();
    executed();
    CompletionBurst burst;
    for (auto& op : batch) op->complete(&failure);
  };
  db.now = options_.clock();
  db.notices.clear();
  if (options_.sync == Sync::full) {
    // Nothing more is committed after a failed sync: its outcome on disk is unknown.
    if (std::string failed = sync_failure(); !failed.empty()) return fail_all(failed);
  }
  const int64_t changes_before = sqlite3_total_changes64(db.conn);
  try {
    db.q("BEGIN IMMEDIATE").step();  // cached statements: no parse per batch
  } catch (const SqlError& e) {
    return fail_all(std::string("the store could not start a transaction on ") +
                    options_.path + ": " + e.what() + "; retry");
  }
  try {
    for (auto& op : batch) op->execute(db);
    durable_tables::save_next_seq(db);
    db.q("COMMIT").step();
  } catch (const SqlError& e) {
    sqlite3_exec(db.conn, "ROLLBACK", nullptr, nullptr, nullptr);
    db.doc_catalog.clear();  // it may have seen a container the rollback took back
    // Every domain's batch runs here (queues, documents, orchestrations), and not every
    // failure is the disk's, so the hint names the disk only as the usual cause.
    return fail_all(std::string("store transaction on ") + options_.path +
                    " failed and was rolled back: " + e.what() +
                    "; if the disk is full or failing, free space or fix it, then retry");
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  executed();
  if (options_.sync == Sync::full) {
    // Rows inserted, updated or deleted: every write of every table set is one of those (the
    // schemas are created at open, never at run time), so an unchanged count means reads only.
    bool wrote = sqlite3_total_changes64(db.conn) != changes_before;
    bool more_work;
    {
      std::lock_guard lk(mu_);
      more_work = !pending_.empty();
    }
    std::unique_lock lk(sync_mu_);
    bool sync_idle = !syncing_ && to_sync_.empty();
    if (!sync_idle || (wrote && more_work)) {
      // To the sync thread; completed after a sync that covers it (or, for reads only, after
      // the syncs of the batches before it, which is all a read can have seen). Meanwhile
      // this thread runs the operations already waiting.
      to_sync_.push_back(Committed{std::move(batch), std::move(db.notices), wrote});
      sync_cv_.notify_one();
      return;
    }
    lk.unlock();
    if (wrote) {
      // Nothing waits to run and nothing earlier is unsynced: a hand-off would only add two
      // thread wake-ups per batch (a sequential client's every operation), so sync here. The
      // sync thread is idle and stays so, since only this thread gives it work.
      if (std::string failed = sync_wal(); !failed.empty()) return fail_all(failed);
    }
    // Synced here, or reads only with everything before them already synced.
  }
  dbl.unlock();
  // Notify before completing, so a producer whose put was acknowledged knows the trigger
  // has already been told. One burst: a consumer's thread is woken once for all of them.
  CompletionBurst burst;
  notify(db.notices);
  for (auto& op : batch) op->complete(nullptr);
}

void SqliteEngine::run_syncer() {
  std::deque<Committed> work;
  for (;;) {
    {
      std::unique_lock lk(sync_mu_);
      sync_cv_.wait(lk, [&] { return sync_stopping_ || !to_sync_.empty(); });
      if (to_sync_.empty()) return;  // stopping, and nothing is left
      work.swap(to_sync_);
      syncing_ = true;
    }
    // One sync covers every batch committed so far: they all sit in the WAL before it.
    bool wrote = std::any_of(work.begin(), work.end(), [](const auto& c) { return c.wrote; });
    std::string failed = wrote ? sync_wal() : sync_failure();
    std::optional<QueueError> failure;
    if (!failed.empty()) failure = err(QueueErrc::storage_failure, failed);
    CompletionBurst burst;  // see run_batch()
    for (auto& c : work) {
      if (!failure) notify(c.notices);
      for (auto& op : c.ops) op->complete(failure ? &*failure : nullptr);
    }
    work.clear();
    std::lock_guard lk(sync_mu_);
    syncing_ = false;
  }
}

std::string SqliteEngine::sync_failure() {
  std::lock_guard lk(sync_mu_);
  return sync_failure_;
}

std::string SqliteEngine::sync_wal() {
  // Final once failed: a retry could succeed on pages the kernel dropped (see the header).
  if (std::string earlier = sync_failure(); !earlier.empty()) return earlier;
  std::string wal = options_.path + "-wal";
  auto failed = [&](const char* what, const std::string& file) {
    std::string message =
        std::string("the store could not make its commits durable: ") + what + " of " + file +
        " failed (" + std::strerror(errno) +
        "); nothing is acknowledged after this, because the disk may have dropped the "
        "write: check the disk and free space, then restart the host (it replays the WAL)";
    std::lock_guard lk(sync_mu_);
    sync_failure_ = message;
    return message;
  };
  if (wal_fd_ < 0) {
    // The WAL file exists from the open (WAL mode) and is kept, never replaced, while the
    // connection lives (one process, EXCLUSIVE locking); fdatasync on any descriptor of it
    // flushes the file. Its directory entry is synced once, as SQLite does for a new WAL.
    wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) return failed("opening", wal);
    std::string dir = std::filesystem::path(options_.path).parent_path().string();
    if (dir.empty()) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return failed("opening", dir);
    int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) return failed("fsync", dir);
  }
  if (::fdatasync(wal_fd_) != 0) return failed("fdatasync", wal);
  return {};
}

void SqliteEngine::notify(std::vector<api::CommitNotice>& notices) {
  if (notices.empty()) return;
  api::NoticeListener listener;
  {
    std::lock_guard lk(mu_);
    listener = listener_;
  }
  if (!listener) return;
  // One notice per queue (the earliest time something in it becomes visible) and one per
  // container (its highest LSN): sorted by (kind, names, order key), the first of each wins.
  // Durable notices are one per activity work item, and one per instance at its earliest time:
  // durable_tables appends a notice for an instance only when it is earlier than the ones it
  // has (never changing one in place, which a rolled-back Effects could not undo), so the
  // earliest of an instance's is announced, at the place of its first. They keep their order
  // and follow.
  auto durable = [](const api::CommitNotice& n) {
    return std::holds_alternative<api::OrchestrationReady>(n) ||
           std::holds_alternative<api::ActivityReady>(n);
  };
  auto split = std::stable_partition(notices.begin(), notices.end(),
                                     [&](const auto& n) { return !durable(n); });
  auto key = [](const api::CommitNotice& n) {
    if (auto* q = std::get_if<api::QueueVisible>(&n))
      return std::make_tuple(0, std::cref(q->queue.account), std::cref(q->queue.name), q->visible_at);
    const auto& d = std::get<api::DocumentChanged>(n);
    return std::make_tuple(1, std::cref(d.container.database), std::cref(d.container.container), -d.lsn);
  };
  auto same = [&](const auto& x, const auto& y) {
    return std::get<0>(x) == std::get<0>(y) && std::get<1>(x) == std::get<1>(y) &&
           std::get<2>(x) == std::get<2>(y);
  };
  std::sort(notices.begin(), split, [&](const auto& a, const auto& b) {
    auto x = key(a), y = key(b);
    return std::tie(std::get<0>(x), std::get<1>(x), std::get<2>(x), std::get<3>(x)) <
           std::tie(std::get<0>(y), std::get<1>(y), std::get<2>(y), std::get<3>(y));
  });
  size_t first_durable = static_cast<size_t>(split - notices.begin());
  // The first of each run of equal keys, before any is handed over (moved from).
  auto last = std::unique(notices.begin(), split,
                          [&](const auto& a, const auto& b) { return same(key(a), key(b)); });
  for (auto it = notices.begin(); it != last; ++it) listener(std::move(*it));
  // An instance's notices become one, announced at the place of its first, with the earliest
  // time and every added inbox row in order.
  std::unordered_map<std::string_view, size_t> first;  // instance -> index of its first notice
  for (size_t i = first_durable; i < notices.size(); ++i) {
    auto* r = std::get_if<api::OrchestrationReady>(&notices[i]);
    if (!r) continue;
    auto [it, fresh] = first.try_emplace(r->instance_id, i);
    if (fresh) continue;
    auto& into = std::get<api::OrchestrationReady>(notices[it->second]);
    into.visible_at = std::min(into.visible_at, r->visible_at);
    for (auto& e : r->events) into.events.push_back(std::move(e));
    r->instance_id.clear();  // merged: not announced on its own
  }
  for (size_t i = first_durable; i < notices.size(); ++i) {
    if (auto* r = std::get_if<api::OrchestrationReady>(&notices[i]); r && r->instance_id.empty())
      continue;
    listener(std::move(notices[i]));
  }
}

void SqliteEngine::sweep() {
  try {
    // As run_batch() does for a batch: what the table sets stamp (expiry deletes) is now.
    db_->now = options_.clock();
    queue_tables::sweep_expired(*db_, db_->now);
    document_tables::sweep_expired(*db_, db_->now);
  } catch (const SqlError&) {
    // Expired rows are already invisible; the next sweep tries again.
  }
}

void SqliteEngine::commit(api::Effects effects, api::QueueCallback<api::CommitReceipt> done) {
  submit(make_op<api::CommitReceipt>(
      [fx = std::move(effects)](SqliteDb& db) { return apply_effects(db, fx); }, std::move(done)));
}

}  // namespace nimbus::storage
