// Wilson score intervals against published values.
#include "plugin/report/wilson.h"

#include <gtest/gtest.h>

namespace sdoh::report {
namespace {

TEST(WilsonIntervalTest, ZeroOfTen) {
  // 0/10: [0, 0.2775] (Newcombe 1998, table I style; also R binom::binom.confint "wilson").
  Interval i = WilsonInterval(0, 10);
  EXPECT_NEAR(i.low, 0.0, 1e-9);
  EXPECT_NEAR(i.high, 0.2775, 5e-5);
}

TEST(WilsonIntervalTest, HalfOfTen) {
  Interval i = WilsonInterval(5, 10);
  EXPECT_NEAR(i.low, 0.2366, 5e-5);
  EXPECT_NEAR(i.high, 0.7634, 5e-5);
}

TEST(WilsonIntervalTest, NewcombeExample81Of263) {
  // Newcombe (1998) Stat Med 17:857, example 81/263: 0.2553 to 0.3662.
  Interval i = WilsonInterval(81, 263);
  EXPECT_NEAR(i.low, 0.2553, 5e-5);
  EXPECT_NEAR(i.high, 0.3662, 5e-5);
}

TEST(WilsonIntervalTest, NewcombeExample15Of148) {
  // Newcombe (1998), example 15/148: 0.0624 to 0.1605.
  Interval i = WilsonInterval(15, 148);
  EXPECT_NEAR(i.low, 0.0624, 5e-5);
  EXPECT_NEAR(i.high, 0.1605, 5e-5);
}

TEST(WilsonIntervalTest, AllOfTwenty) {
  Interval i = WilsonInterval(20, 20);
  EXPECT_NEAR(i.low, 0.8389, 5e-5);
  EXPECT_NEAR(i.high, 1.0, 1e-9);
}

}  // namespace
}  // namespace sdoh::report
