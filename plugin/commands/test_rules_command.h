// `sdoh-bridge test-rules FILE...`: runs administrator-written rule fixtures — input
// resources and the flags they must give — through the same screening and rules stages as
// `run`, and reports pass/fail per case.
//
// Fixture format (YAML):
//   cases:
//     - name: AHC food positive
//       resources: [ {resourceType: Patient, id: p1, ...}, {resourceType: QuestionnaireResponse,
//       ...} ] expect:            # exactly these flags (all patients), in any order
//         - {patient: p1, flag: food, certainty: confirmed,
//            evidence: [QuestionnaireResponse/q1], rules: [ahc-hrsn.food]}
//   `certainty`, `evidence` and `rules` are compared when given; `expect: []` asserts no flag.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sdoh {

struct TestRulesOptions {
  std::string config_path;
  std::vector<std::string> files;
};

// 0 when every case passes; 1 when any fails; 2 on a broken fixture or config.
int TestRulesCommand(const TestRulesOptions& options, std::ostream& out, std::ostream& err);

}  // namespace sdoh
