// Test-only: `report_cli ARGS...` behaves as `sdoh-bridge report ARGS...`.
#include <string>
#include <vector>

#include "plugin/report/report_command.h"

int main(int argc, char** argv) {
  return sdoh::RunReportCommand(std::vector<std::string>(argv + 1, argv + argc));
}
