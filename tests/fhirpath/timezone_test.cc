// Time-zone behaviour (engine.h, "Time zones"). CTest runs this binary under several TZ
// values; every assertion must hold in each of them.
#include <gtest/gtest.h>

#include <ctime>

#include "fhir/fhirpath/engine.h"
#include "tests/fhirpath/test_util.h"

namespace fhir::fhirpath {
namespace {

using ::fhir::fhirpath::testing::Eval;
using Strings = std::vector<std::string>;

const auto kInstant =
    std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));  // 22:13:20Z

TEST(TimeZoneTest, ExplicitOffsetIgnoresProcessZone) {
  EvalContext ctx;
  ctx.now = kInstant;
  ctx.utc_offset_minutes = -5 * 60;
  EXPECT_EQ(Eval("now()", nullptr, ctx), Strings{"dateTime:2023-11-14T17:13:20.000-05:00"});
  EXPECT_EQ(Eval("today()", nullptr, ctx), Strings{"date:2023-11-14"});
  ctx.utc_offset_minutes = 10 * 60;
  EXPECT_EQ(Eval("today()", nullptr, ctx), Strings{"date:2023-11-15"});
}

TEST(TimeZoneTest, DefaultOffsetIsTheProcessZone) {
  EvalContext ctx;
  ctx.now = kInstant;
  std::time_t t = std::chrono::system_clock::to_time_t(kInstant);
  std::tm local{};
  localtime_r(&t, &local);
  char expected[32];
  std::strftime(expected, sizeof expected, "date:%Y-%m-%d", &local);
  EXPECT_EQ(Eval("today()", nullptr, ctx), Strings{expected});
  // now() is the same instant whatever the zone.
  EXPECT_EQ(Eval("now() = @2023-11-14T22:13:20.000Z", nullptr, ctx), Strings{"boolean:true"});
}

TEST(TimeZoneTest, ZonedValuesCompareAsInstants) {
  EXPECT_EQ(Eval("@2017-11-05T01:30:00.0-04:00 < @2017-11-05T01:15:00.0-05:00", nullptr),
            Strings{"boolean:true"});
  // Equality between a zoned and an unzoned date-time is unknown in every zone.
  EXPECT_EQ(Eval("@2012-04-15T15:00:00Z = @2012-04-15T10:00:00", nullptr), Strings{});
}

TEST(TimeZoneTest, OrderingAgainstUnzonedUsesTheLocalOffset) {
  EvalContext ctx;
  ctx.utc_offset_minutes = 2 * 60;
  EXPECT_EQ(Eval("@2020-01-01T11:00:00 < @2020-01-01T10:30:00Z", nullptr, ctx),
            Strings{"boolean:true"});
  ctx.utc_offset_minutes = 0;
  EXPECT_EQ(Eval("@2020-01-01T11:00:00 < @2020-01-01T10:30:00Z", nullptr, ctx),
            Strings{"boolean:false"});
}

}  // namespace
}  // namespace fhir::fhirpath
