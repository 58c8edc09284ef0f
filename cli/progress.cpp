// The progress line of the snapshot and restore commands (see cli/progress.h).
#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace kvc::cli {

ProgressMeter::ProgressMeter() : tty_(isatty(STDERR_FILENO) == 1) {}

ProgressMeter::~ProgressMeter() {
    clear();
}

void ProgressMeter::phase(std::string label, uint64_t total) {
    label_ = std::move(label);
    total_ = total;
    start_ = last_ = std::chrono::steady_clock::now();
    if (tty_) draw(0);
}

void ProgressMeter::update(uint64_t done) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && done < total_) return;
    last_ = now;
    draw(done);
}

void ProgressMeter::draw(uint64_t done) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string line = fmt::format("{}: {} of {}", label_, humanBytes(done), humanBytes(total_));
    if (total_) line += fmt::format(" ({:.0f}%)", 100.0 * double(done) / double(total_));
    if (secs > 0.2 && done > 0) {
        const double rate = double(done) / secs;
        line += ", " + humanRate(done, secs);
        if (done < total_) {
            const auto left = static_cast<uint64_t>(double(total_ - done) / rate + 0.5);
            line += fmt::format(", {}:{:02d} left", left / 60, left % 60);
        }
    }
    // \r and "erase to the end of the line": the line is redrawn in place.
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
    std::fflush(stderr);
    shown_ = true;
}

void ProgressMeter::clear() {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
}

std::string humanBytes(uint64_t bytes) {
    static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) return fmt::format("{} B", bytes);
    double v = double(bytes) / 1024;
    int unit = 0;
    while (v >= 1024 && unit < 3) {
        v /= 1024;
        unit++;
    }
    return fmt::format("{:.{}f} {}", v, v < 10 ? 2 : 1, kUnits[unit]);
}

std::string humanRate(uint64_t bytes, double seconds) {
    if (seconds <= 0) return "- MB/s";
    return fmt::format("{:.1f} MB/s", double(bytes) / seconds / 1e6);
}

}  // namespace kvc::cli
