#include "fhir/datetime.h"

#include <gtest/gtest.h>

namespace fhir {
namespace {

InstantMicros At(const char* s, const TimeZone& tz = TimeZone::Utc()) {
  auto t = ParseFhirDateTime(s, tz);
  EXPECT_TRUE(t.has_value()) << s;
  return t.value_or(0);
}

TEST(DateTimeTest, ZonedValuesCompareAsInstants) {
  EXPECT_EQ(At("2024-05-01T08:00:00-05:00"), At("2024-05-01T13:00:00Z"));
  EXPECT_LT(At("2024-05-01T10:00:00Z"), At("2024-05-01T08:00:00-05:00"));
}

TEST(DateTimeTest, PartialDatesReadAtStartOfPrecisionInConfiguredZone) {
  EXPECT_EQ(At("2024"), At("2024-01-01T00:00:00Z"));
  EXPECT_EQ(At("2024-05"), At("2024-05-01T00:00:00Z"));
  EXPECT_EQ(At("2024-05-01"), At("2024-05-01T00:00:00Z"));
  auto ny = TimeZone::Parse("America/New_York");
  ASSERT_TRUE(ny.ok());
  EXPECT_EQ(At("2024-05-01", *ny), At("2024-05-01T04:00:00Z"));           // EDT
  EXPECT_EQ(At("2024-01-15T09:00:00", *ny), At("2024-01-15T14:00:00Z"));  // EST
  auto plus = TimeZone::Parse("+05:30");
  ASSERT_TRUE(plus.ok());
  EXPECT_EQ(At("2024-05-01T10:00:00", *plus), At("2024-05-01T04:30:00Z"));
}

TEST(DateTimeTest, FractionalSecondsOrderInstants) {
  EXPECT_LT(At("2024-05-01T10:00:00.1Z"), At("2024-05-01T10:00:00.25Z"));
}

TEST(DateTimeTest, RejectsInvalidValues) {
  for (const char* bad : {"", "24", "2024-13", "2024-02-30", "2024-05-01T25:00:00Z",
                          "2024-05-01T10:00:00+5", "2024/05/01", "2024-05-01T10", "yesterday"}) {
    EXPECT_FALSE(ParseFhirDateTime(bad, TimeZone::Utc()).has_value()) << bad;
  }
}

TEST(DateTimeTest, UnknownZoneIsAConfigError) {
  EXPECT_FALSE(TimeZone::Parse("Mars/Olympus").ok());
  EXPECT_FALSE(TimeZone::Parse("+25:00").ok());
}

}  // namespace
}  // namespace fhir
