#pragma once
// Admission: a counting gate of permits, one per trigger kind (and one per pull listener).
//
// Why: how work is refused depends on where it comes from. A pushed request (HTTP) that finds
// no permit is answered at once (429), costing nothing. A pulled item (a queue message, later a
// change-feed batch or a durable work item) must take its permit BEFORE it is fetched: once
// fetched, a delivery attempt is spent, so refusing it then would count against the item
// (the old bug: limit 1, 60 messages, 54 poisoned without running). Pull listeners therefore
// ask try_acquire(batch) and only fetch as many items as they hold permits for.
//
// Ownership: a Permit returns its count to the gate when destroyed; the gate must outlive
// every Permit taken from it. Thread-safety: none; one gate belongs to one I/O thread.
#include <cassert>
#include <utility>

namespace nimbus::runtime {

class Admission {
 public:
  // A held share of the gate, released on destruction. Empty (count 0) when refused.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& o) noexcept : gate_(std::exchange(o.gate_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    Permit& operator=(Permit&& o) noexcept {
      if (this != &o) {
        release();
        gate_ = std::exchange(o.gate_, nullptr);
        n_ = std::exchange(o.n_, 0);
      }
      return *this;
    }
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { release(); }

    explicit operator bool() const { return n_ > 0; }
    int count() const { return n_; }
    // Moves `n` (<= count()) of this permit's share into a new Permit, e.g. one per fetched
    // message of a batch.
    Permit split(int n) {
      assert(n >= 0 && n <= n_);
      n_ -= n;
      return Permit(gate_, n);
    }
    void release() {
      if (gate_ && n_ > 0) gate_->in_use_ -= n_;
      n_ = 0;
    }

   private:
    friend class Admission;
    Permit(Admission* gate, int n) : gate_(gate), n_(n) {}
    Admission* gate_ = nullptr;
    int n_ = 0;
  };

  // capacity < 0: unbounded (every request is admitted, still counted).
  explicit Admission(int capacity = -1) : capacity_(capacity) {}
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  ~Admission() { assert(in_use_ == 0 && "a Permit outlived its Admission"); }

  // All `n` permits, or an empty Permit when fewer than `n` are free.
  Permit try_acquire(int n = 1) {
    if (n <= 0) return {};
    if (capacity_ >= 0 && in_use_ + n > capacity_) return {};
    in_use_ += n;
    return Permit(this, n);
  }

  int capacity() const { return capacity_; }
  int in_use() const { return in_use_; }
  // Free permits (a large number when unbounded).
  int available() const { return capacity_ < 0 ? (1 << 30) : capacity_ - in_use_; }

 private:
  int capacity_;
  int in_use_ = 0;
};

}  // namespace nimbus::runtime
