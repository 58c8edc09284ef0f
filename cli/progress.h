// Progress and summaries of the snapshot and restore commands. On a terminal (stderr is a tty)
// a line on stderr is redrawn at most ten times a second with bytes done, rate and time left;
// otherwise nothing is shown until the one-line summary, so logs and cron mails stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kvc::cli {

class ProgressMeter {
  public:
    ProgressMeter();
    ~ProgressMeter();
    ProgressMeter(const ProgressMeter&) = delete;
    ProgressMeter& operator=(const ProgressMeter&) = delete;

    // Starts a phase ("verifying /x.kvs", "restoring"): `total` bytes are expected.
    void phase(std::string label, uint64_t total);
    void update(uint64_t done);
    // Erases the line (before a summary, a warning or an error).
    void clear();
    bool onTerminal() const { return tty_; }

  private:
    void draw(uint64_t done);

    bool tty_ = false;
    bool shown_ = false;
    std::string label_;
    uint64_t total_ = 0;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_;
};

// "1.50 GiB", "512.0 MiB", "17 B".
std::string humanBytes(uint64_t bytes);
// Decimal megabytes per second, as disk tools report them: "382.6 MB/s".
std::string humanRate(uint64_t bytes, double seconds);

}  // namespace kvc::cli
