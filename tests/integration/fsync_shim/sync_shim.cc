// LD_PRELOAD shim for the "fsynced before its 201" test (fsync_ack.test.mjs beside this file).
//
// Why it exists: SIGKILL keeps the page cache, so a kill test cannot tell a durable store from
// one that never syncs. This library sits between the process and libc and writes one line per
// event to the file named by NIMBUS_SYNC_SHIM_LOG, each with a process-wide monotonic sequence
// number, so the test can order three kinds of event:
//   sync  <seq> <call> <fd> <path>   a completed fsync/fdatasync/syncfs/msync(MS_SYNC):
//                                    seq is taken AFTER the real call returned 0
//   req   <seq> <fd>                 bytes starting a request line ("PUT /...") read from a socket:
//                                    seq taken after the real read returned
//   ack   <seq> <fd>                 bytes starting "HTTP/1.1 201" about to be sent on a socket:
//                                    seq taken BEFORE the real send, so nothing the client can
//                                    see precedes it
// A sync with a smaller seq than an ack therefore completed before that ack left the process.
// SQLite (Debian 12's libsqlite3) calls only fdatasync; it uses neither sync_file_range nor
// msync on its files. fsync, syncfs and msync are wrapped anyway so a change in the store would
// still be seen. Asio sends with send/sendmsg and reads with recv/recvmsg/read; write/writev are
// wrapped too. Thread-safe: the counter is atomic and each line is one write(2) of < PIPE_BUF
// bytes to an O_APPEND file, so lines never interleave (the file's order may differ from seq
// order across threads; the test sorts by seq).
#include <dlfcn.h>
#include <fcntl.h>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

int log_fd = -1;
std::atomic<unsigned long long> seq_counter{0};

// Resolved on first use (another library's constructor may call send or write before ours
// runs); a benign race: every thread stores the same pointer.
template <class F>
F* real(F*& slot, const char* name) {
  if (slot) return slot;
  F* f = reinterpret_cast<F*>(dlsym(RTLD_NEXT, name));
  if (!f) {
    static const char msg[] = "sync_shim: a libc symbol is missing\n";
    syscall(SYS_write, 2, msg, sizeof msg - 1);
    abort();
  }
  return slot = f;
}

int (*real_fsync)(int);
int (*real_fdatasync)(int);
int (*real_syncfs)(int);
int (*real_msync)(void*, size_t, int);
ssize_t (*real_send)(int, const void*, size_t, int);
ssize_t (*real_sendmsg)(int, const msghdr*, int);
ssize_t (*real_write)(int, const void*, size_t);
ssize_t (*real_writev)(int, const iovec*, int);
ssize_t (*real_recv)(int, void*, size_t, int);
ssize_t (*real_recvmsg)(int, msghdr*, int);
ssize_t (*real_read)(int, void*, size_t);

__attribute__((constructor)) void init() {
  const char* path = getenv("NIMBUS_SYNC_SHIM_LOG");
  if (path && *path)
    log_fd = static_cast<int>(
        syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
}

unsigned long long next_seq() { return seq_counter.fetch_add(1) + 1; }

__attribute__((format(printf, 1, 2))) void emit(const char* fmt, ...) {
  if (log_fd < 0) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  if (n >= static_cast<int>(sizeof line)) n = sizeof line - 1;
  int saved = errno;
  syscall(SYS_write, log_fd, line, static_cast<size_t>(n));  // not write(): that is wrapped
  errno = saved;
}

bool is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

void note_sync(const char* call, int fd) {
  unsigned long long s = next_seq();
  char link[64], target[400];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  target[n > 0 ? n : 0] = 0;
  emit("sync %llu %s %d %s\n", s, call, fd, n > 0 ? target : "?");
}

constexpr char kAck[] = "HTTP/1.1 201";

// An outgoing buffer: if it starts a 201 answer on a socket, log the ack before it leaves.
void before_send(int fd, const void* buf, size_t len) {
  if (len >= sizeof kAck - 1 && memcmp(buf, kAck, sizeof kAck - 1) == 0 && is_socket(fd))
    emit("ack %llu %d\n", next_seq(), fd);
}

// An HTTP request line starts "<METHOD> /": 3 to 7 capital letters, a space, a slash.
bool starts_request(const void* buf, ssize_t got) {
  const char* p = static_cast<const char*>(buf);
  ssize_t i = 0;
  while (i < got && i < 8 && p[i] >= 'A' && p[i] <= 'Z') ++i;
  return i >= 3 && i + 1 < got && p[i] == ' ' && p[i + 1] == '/';
}

void after_read(int fd, const void* buf, ssize_t got) {
  if (got > 0 && starts_request(buf, got) && is_socket(fd)) emit("req %llu %d\n", next_seq(), fd);
}

}  // namespace

extern "C" {

int fsync(int fd) {
  int r = real(real_fsync, "fsync")(fd);
  if (r == 0) note_sync("fsync", fd);
  return r;
}

int fdatasync(int fd) {
  int r = real(real_fdatasync, "fdatasync")(fd);
  if (r == 0) note_sync("fdatasync", fd);
  return r;
}

int syncfs(int fd) noexcept {
  int r = real(real_syncfs, "syncfs")(fd);
  if (r == 0) note_sync("syncfs", fd);
  return r;
}

int msync(void* addr, size_t len, int flags) {
  int r = real(real_msync, "msync")(addr, len, flags);
  if (r == 0 && (flags & MS_SYNC)) emit("sync %llu msync -1 ?\n", next_seq());
  return r;
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  before_send(fd, buf, len);
  return real(real_send, "send")(fd, buf, len, flags);
}

ssize_t write(int fd, const void* buf, size_t len) {
  before_send(fd, buf, len);
  return real(real_write, "write")(fd, buf, len);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if (msg && msg->msg_iovlen > 0) before_send(fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
  return real(real_sendmsg, "sendmsg")(fd, msg, flags);
}

ssize_t writev(int fd, const iovec* iov, int cnt) {
  if (cnt > 0) before_send(fd, iov[0].iov_base, iov[0].iov_len);
  return real(real_writev, "writev")(fd, iov, cnt);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  ssize_t r = real(real_recv, "recv")(fd, buf, len, flags);
  after_read(fd, buf, r);
  return r;
}

ssize_t read(int fd, void* buf, size_t len) {
  ssize_t r = real(real_read, "read")(fd, buf, len);
  after_read(fd, buf, r);
  return r;
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  ssize_t r = real(real_recvmsg, "recvmsg")(fd, msg, flags);
  if (r > 0 && msg->msg_iovlen > 0) {
    size_t first = msg->msg_iov[0].iov_len < static_cast<size_t>(r) ? msg->msg_iov[0].iov_len
                                                                     : static_cast<size_t>(r);
    after_read(fd, msg->msg_iov[0].iov_base, static_cast<ssize_t>(first));
  }
  return r;
}

}  // extern "C"
