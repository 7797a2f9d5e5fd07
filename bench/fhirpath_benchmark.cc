// sdoh-bridge's FHIRPath engine side of bench/fhirpath_vs_js.sh: compiles each expression once
// and evaluates it over every (already parsed) QuestionnaireResponse; prints
// "<evaluations per CPU-second> <number of true results>" per expression.
// Usage: fhirpath_benchmark RESOURCES.json EXPRESSIONS.txt [ROUNDS]
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/fhirpath/engine.h"

namespace fp = fhir::fhirpath;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: fhirpath_benchmark RESOURCES.json EXPRESSIONS.txt [ROUNDS]\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  text.reserve(text.size() + 64);  // RapidJSON's SIMD scan may read a little past the end
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseNumbersAsStringsFlag>(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    std::cerr << "resources must be a JSON array\n";
    return 2;
  }
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  std::ifstream ex(argv[2]);
  std::string line;
  fp::EvalContext ctx;
  ctx.utc_offset_minutes = 0;
  while (std::getline(ex, line)) {
    if (line.empty()) continue;
    auto compiled = fp::Compile(line);
    if (!compiled.ok()) {
      std::cerr << "syntax error: " << compiled.error->message << "\n";
      return 2;
    }
    double best = 0;
    int trues = 0;
    for (int k = 0; k < rounds; ++k) {
      trues = 0;
      std::clock_t c0 = std::clock();
      for (const auto& r : doc.GetArray()) {
        fp::EvalResult out = fp::Evaluate(*compiled.expression, r, ctx);
        if (out.ok() && !out.items.empty() && out.items[0].kind() == fp::ValueKind::kBoolean &&
            out.items[0].boolean()) {
          ++trues;
        }
      }
      double secs = double(std::clock() - c0) / CLOCKS_PER_SEC;
      best = std::max(best, doc.Size() / secs);
    }
    std::cout << static_cast<long>(best) << " " << trues << "\n";
  }
  return 0;
}
