// Progress of long work on stderr: a bar with counts, rate and ETA when stderr
// is a terminal, plain log lines (at most one every `interval` seconds)
// otherwise, so that logs of batch jobs stay readable.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace weakdistill {

class Progress {
 public:
  // `total` 0 means unknown. `unit` names what is counted ("samples").
  Progress(std::string label, std::size_t total, std::string unit = "items");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Adds `n` done; `note` (e.g. "loss 0.31") is shown beside the bar.
  void advance(std::size_t n = 1, const std::string& note = "");
  void set_note(const std::string& note);
  // The total, once known (0: unknown).
  void set_total(std::size_t total) { total_ = total; }
  // Prints the final state once (also done by the destructor).
  void finish();
  // Prints nothing at all, not even the final state, when the work ends before the first
  // redraw: for work that is usually quick (scoring a student) but may not be.
  void quiet_when_quick() { quiet_when_quick_ = true; }

  // Disables all progress output in this process (tests, --quiet).
  static void set_enabled(bool enabled);
  static bool enabled();

  // While one lives, bars made are silent and bars made before keep drawing: an outer bar
  // ("round 3 training: 2/6 trainings") over work whose own bars (a student's epochs) would
  // bury it.
  class Mute {
   public:
    Mute();
    ~Mute();
    Mute(const Mute&) = delete;
    Mute& operator=(const Mute&) = delete;
  };

 private:
  void draw(bool final);

  std::string label_, unit_, note_;
  std::size_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool tty_;
  bool finished_ = false;
  bool muted_ = false;  // made under a Mute
  bool quiet_when_quick_ = false, drawn_ = false;
};

// "1.2k", "3.4M": for counts in progress lines.
std::string human_count(double n);
// "1m05s", "2h03m": for durations.
std::string human_duration(double seconds);

}  // namespace weakdistill
