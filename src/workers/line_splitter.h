#pragma once
// Cuts a worker's output stream into bounded log lines (see OutputCapture in process.h).
// Header-only and free of I/O so it is unit-tested alone.
#include <string>
#include <string_view>

namespace nimbus::workers {

// Splits a byte stream into lines of at most `max_line` bytes (without the newline); a longer
// line is cut there, marked truncated, and the rest of it up to the newline dropped.
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line) : max_(max_line) {}
  // Calls emit(line, truncated) for every completed line in `bytes`.
  template <class Emit>
  void feed(std::string_view bytes, Emit&& emit) {
    while (!bytes.empty()) {
      size_t nl = bytes.find('\n');
      std::string_view part = bytes.substr(0, nl);
      if (!skipping_) {
        size_t room = max_ - line_.size();
        if (part.size() > room) {
          line_.append(part.substr(0, room));
          emit(std::string_view(line_), true);
          line_.clear();
          skipping_ = true;
        } else {
          line_.append(part);
        }
      }
      if (nl == std::string_view::npos) break;
      if (!skipping_) emit(std::string_view(line_), false);
      line_.clear();
      skipping_ = false;
      bytes.remove_prefix(nl + 1);
    }
  }
  // The unterminated rest at end of stream, if any.
  template <class Emit>
  void finish(Emit&& emit) {
    if (!line_.empty() && !skipping_) emit(std::string_view(line_), false);
    line_.clear();
    skipping_ = false;
  }

 private:
  size_t max_;
  std::string line_;
  bool skipping_ = false;
};

}  // namespace nimbus::workers
