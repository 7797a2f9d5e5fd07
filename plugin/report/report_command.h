// `sdoh-bridge report`: screening coverage, positive rates per need and strata over a
// reporting period, written as report.html, report.json and report-<table>.csv in the out
// folder. With a FHIR server as the source it also reports the status of the referrals
// sdoh-bridge wrote there (ServiceRequests and Tasks). The report carries no names or ids, and
// every count from 1 to min-cell - 1 is suppressed (with complementary suppression).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sdoh {

// `args` are the words after `sdoh-bridge report`. Exit codes: 0 written; 1 runtime error
// (reading the source, writing the files); 2 usage or config error.
int RunReportCommand(const std::vector<std::string>& args);
int RunReportCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace sdoh
