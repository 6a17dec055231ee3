// Progress bar (see progress.h).
#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace cxr {
namespace {

std::string format_duration(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

}  // namespace

ProgressBar::ProgressBar(int64_t total, std::string label, std::string unit, bool enabled)
    : total_(total), label_(std::move(label)), unit_(std::move(unit)), enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

double ProgressBar::rate() const {
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0 ? static_cast<double>(done_.load()) / s : 0.0;
}

void ProgressBar::advance(int64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // someone else is drawing; skip rather than wait
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else {
    int decile = total_ > 0 ? static_cast<int>(10 * done_.load() / total_) : 0;
    if (decile == last_decile_) return;
    last_decile_ = decile;
  }
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_ || !enabled_) return;
  finished_ = true;
  draw(true);
}

void ProgressBar::draw(bool final) {
  int64_t done = done_.load();
  double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  double r = rate();
  double eta = r > 0 ? static_cast<double>(total_ - done) / r : -1;
  char stats[160];
  std::snprintf(stats, sizeof stats, "%lld/%lld %5.1f%% %.1f %s/s %s %s", static_cast<long long>(done),
                static_cast<long long>(total_), 100.0 * frac, r, unit_.c_str(), final ? "in" : "ETA",
                format_duration(final ? std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()
                                      : eta).c_str());
  if (tty_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kWidth) bar += '>';
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r%s [%s] %s\033[K%s", label_.c_str(), bar.c_str(), stats, final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s: %s\n", label_.c_str(), stats);
  }
  std::fflush(stderr);
}

}  // namespace cxr
