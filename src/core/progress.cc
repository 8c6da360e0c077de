#include "weakdistill/core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace weakdistill {
namespace {

std::atomic<bool> g_enabled{true};
std::atomic<int> g_mutes{0};
constexpr double kPlainInterval = 10.0;  // seconds between plain lines
constexpr double kTtyInterval = 0.1;     // seconds between bar redraws

}  // namespace

void Progress::set_enabled(bool enabled) { g_enabled = enabled; }
Progress::Mute::Mute() { ++g_mutes; }
Progress::Mute::~Mute() { --g_mutes; }
bool Progress::enabled() { return g_enabled; }

std::string human_count(double n) {
  if (n < 1e3) return fmt::format("{:.0f}", n);
  if (n < 1e6) return fmt::format("{:.1f}k", n / 1e3);
  if (n < 1e9) return fmt::format("{:.1f}M", n / 1e6);
  return fmt::format("{:.1f}G", n / 1e9);
}

std::string human_duration(double s) {
  if (s < 0 || s != s) return "?";
  if (s < 60) return fmt::format("{:.0f}s", s);
  const long t = static_cast<long>(s);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

Progress::Progress(std::string label, std::size_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      tty_(::isatty(STDERR_FILENO) != 0),
      muted_(g_mutes.load() > 0) {}

Progress::~Progress() { finish(); }

void Progress::advance(std::size_t n, const std::string& note) {
  done_ += n;
  if (!note.empty()) note_ = note;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? kTtyInterval : kPlainInterval)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::set_note(const std::string& note) { note_ = note; }

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (quiet_when_quick_ && !drawn_) return;
  draw(true);
}

void Progress::draw(bool final) {
  if (!g_enabled || muted_) return;
  drawn_ = true;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  std::string counts = total_ ? fmt::format("{}/{}", done_, total_) : fmt::format("{}", done_);
  std::string eta;
  if (total_ && !final && rate > 0) {
    eta = " ETA " + human_duration(static_cast<double>(total_ - std::min(done_, total_)) / rate);
  }
  const std::string tail =
      fmt::format("{} {} {}/s {}{}{}", counts, unit_, human_count(rate), human_duration(elapsed),
                  eta, note_.empty() ? "" : "  " + note_);
  if (tty_) {
    std::string bar;
    if (total_) {
      constexpr int kWidth = 24;
      const int filled = static_cast<int>(
          kWidth * std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_)));
      bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    }
    std::fprintf(stderr, "\r\033[K%s %s%s%s", label_.c_str(), bar.c_str(), tail.c_str(),
                 final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s: %s%s\n", label_.c_str(), tail.c_str(), final ? " (done)" : "");
  }
  std::fflush(stderr);
}

}  // namespace weakdistill
