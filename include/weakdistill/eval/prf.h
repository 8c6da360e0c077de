// Precision, recall and F1 from counts, with the zero conventions every
// metric in weakdistill shares.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>

namespace weakdistill::eval {

struct Prf {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
};

// P = tp/(tp+fp), R = tp/(tp+fn), each 0 when its denominator is 0;
// F1 = 2PR/(P+R), 0 when P+R = 0.
Prf prf(double tp, double fp, double fn);
// F1 from precision and recall (0 when both are 0).
double f1(double precision, double recall);

nlohmann::ordered_json to_json(const Prf& p);

}  // namespace weakdistill::eval
