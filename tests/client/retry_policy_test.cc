#include "fhir/client/retry_policy.h"

#include <gtest/gtest.h>

#include "tests/client/fakes.h"

namespace fhir::client {
namespace {

using std::chrono::milliseconds;
using testing::RetryRig;
using testing::ScriptedTransport;

HttpRequest Get() {
  HttpRequest r;
  r.url = "http://fhir.test/fhir/Patient";
  return r;
}

TEST(RetryPolicyTest, RetriesServiceUnavailableWithExponentialFullJitter) {
  RetryRig rig;
  rig.transport->script = {ScriptedTransport::Status(503), ScriptedTransport::Status(502),
                           ScriptedTransport::Status(504), ScriptedTransport::Status(200, "{}")};
  ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->attempts, 4);
  // random = 0.5 of caps 100, 200, 400 ms.
  EXPECT_EQ(rig.sleeper->delays,
            (std::vector<milliseconds>{milliseconds(50), milliseconds(100), milliseconds(200)}));
}

TEST(RetryPolicyTest, BackoffIsCappedByMaxDelay) {
  RetryRig rig(RetryRig::Defaults(), 0.999999);
  EXPECT_EQ(rig.retrying->Backoff(1), milliseconds(100));
  EXPECT_EQ(rig.retrying->Backoff(4), milliseconds(800));
  EXPECT_EQ(rig.retrying->Backoff(5), milliseconds(1000));
  EXPECT_EQ(rig.retrying->Backoff(40), milliseconds(1000));
  RetryRig zero(RetryRig::Defaults(), 0.0);
  EXPECT_EQ(zero.retrying->Backoff(3), milliseconds(0));
}

TEST(RetryPolicyTest, StopsAfterMaxAttemptsAndReturnsLastResponse) {
  RetryRig rig;
  for (int i = 0; i < 10; ++i) rig.transport->script.push_back(ScriptedTransport::Status(503));
  ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->attempts, 4);
  EXPECT_EQ(rig.transport->requests.size(), 4u);
  EXPECT_EQ(rig.sleeper->delays.size(), 3u);
}

TEST(RetryPolicyTest, HonoursRetryAfterDeltaSeconds) {
  RetryRig rig;
  rig.transport->script = {ScriptedTransport::Status(429, "", {{"retry-after", "7"}}),
                           ScriptedTransport::Status(200)};
  ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{milliseconds(7000)});
  EXPECT_EQ(rig.retrying->stats().throttled.load(), 1u);
}

TEST(RetryPolicyTest, HonoursRetryAfterHttpDateAgainstServerDate) {
  RetryRig rig;
  // The server's clock says 08:49:37; retry at 08:50:07 → 30 s, whatever our clock says.
  rig.transport->script = {
      ScriptedTransport::Status(503, "",
                                {{"date", "Sun, 06 Nov 1994 08:49:37 GMT"},
                                 {"retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"}}),
      ScriptedTransport::Status(200)};
  ASSERT_TRUE(rig.retrying->Execute(Get(), RequestKind::kRead).ok());
  EXPECT_EQ(rig.sleeper->delays, std::vector<milliseconds>{milliseconds(30'000)});
}

TEST(RetryPolicyTest, RetryAfterBeyondBudgetGivesUpWithoutSleeping) {
  RetryRig rig;
  rig.transport->script = {ScriptedTransport::Status(429, "", {{"retry-after", "120"}}),
                           ScriptedTransport::Status(200)};
  ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_TRUE(rig.sleeper->delays.empty());
}

TEST(RetryPolicyTest, PerCallDeadlineBoundsWaitsAndAttemptTimeouts) {
  RetryOptions o = RetryRig::Defaults();
  o.max_attempts = 100;
  o.deadline = milliseconds(10'000);
  o.budget = milliseconds(1'000'000);
  RetryRig rig(o);
  for (int i = 0; i < 100; ++i) {
    rig.transport->script.push_back(ScriptedTransport::Status(429, "", {{"retry-after", "3"}}));
  }
  ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429);
  // Waits of 3 s at 0, 3, 6 s; a fourth would end at 12 s > 10 s.
  EXPECT_EQ(rig.sleeper->delays.size(), 3u);
  ASSERT_EQ(rig.transport->timeouts.size(), 4u);
  EXPECT_EQ(rig.transport->timeouts[0], milliseconds(10'000));
  EXPECT_EQ(rig.transport->timeouts[3], milliseconds(1'000));  // what is left of the deadline
}

TEST(RetryPolicyTest, PlainCreateIsNotRetriedWhenItMayHaveBeenProcessed) {
  for (int status : {500, 502, 503, 504}) {
    RetryRig rig;
    rig.transport->script = {ScriptedTransport::Status(status), ScriptedTransport::Status(201)};
    ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kUnsafeCreate);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, status);
    EXPECT_EQ(rig.transport->requests.size(), 1u) << status;
  }
  for (auto kind : {ClientError::Kind::kNetwork, ClientError::Kind::kTimeout}) {
    RetryRig rig;
    rig.transport->script = {ScriptedTransport::Error(kind), ScriptedTransport::Status(201)};
    ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kUnsafeCreate);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, kind);
    EXPECT_EQ(rig.transport->requests.size(), 1u);
  }
}

TEST(RetryPolicyTest, PlainCreateIsRetriedWhenSurelyNotProcessed) {
  RetryRig rig;
  rig.transport->script = {ScriptedTransport::Error(ClientError::Kind::kConnect),
                           ScriptedTransport::Status(429, "", {{"retry-after", "1"}}),
                           ScriptedTransport::Status(201)};
  ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kUnsafeCreate);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->attempts, 3);
}

TEST(RetryPolicyTest, ConditionalCreateAndTransactionAreRetried) {
  for (RequestKind kind : {RequestKind::kConditionalCreate, RequestKind::kTransaction,
                           RequestKind::kIdempotentWrite}) {
    RetryRig rig;
    rig.transport->script = {ScriptedTransport::Error(ClientError::Kind::kNetwork),
                             ScriptedTransport::Error(ClientError::Kind::kTimeout),
                             ScriptedTransport::Status(503), ScriptedTransport::Status(200)};
    ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), kind);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->attempts, 4);
  }
}

TEST(RetryPolicyTest, InternalServerErrorIsRetriedForReadsOnly) {
  RetryRig read;
  read.transport->script = {ScriptedTransport::Status(500), ScriptedTransport::Status(200)};
  EXPECT_EQ(read.retrying->Execute(Get(), RequestKind::kRead)->status, 200);
  RetryRig write;
  write.transport->script = {ScriptedTransport::Status(500), ScriptedTransport::Status(200)};
  EXPECT_EQ(write.retrying->Execute(Get(), RequestKind::kConditionalCreate)->status, 500);
}

TEST(RetryPolicyTest, ClientErrorsAndTlsFailuresAreNotRetried) {
  for (int status : {400, 401, 403, 404, 409, 412, 422}) {
    RetryRig rig;
    rig.transport->script = {ScriptedTransport::Status(status), ScriptedTransport::Status(200)};
    EXPECT_EQ(rig.retrying->Execute(Get(), RequestKind::kRead)->status, status);
  }
  for (auto kind : {ClientError::Kind::kTls, ClientError::Kind::kResponseTooLarge}) {
    RetryRig rig;
    rig.transport->script = {ScriptedTransport::Error(kind), ScriptedTransport::Status(200)};
    ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kRead);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, kind);
  }
}

TEST(RetryPolicyTest, EveryAttemptCarriesTheSameRequestId) {
  RetryRig rig;
  rig.transport->script = {ScriptedTransport::Status(503), ScriptedTransport::Status(200)};
  ClientResult<HttpResponse> r = rig.retrying->Execute(Get(), RequestKind::kRead);
  ASSERT_EQ(rig.transport->requests.size(), 2u);
  std::string_view id0 = FindHeader(rig.transport->requests[0].headers, "X-Request-Id");
  EXPECT_EQ(id0.size(), 32u);
  EXPECT_EQ(id0, FindHeader(rig.transport->requests[1].headers, "X-Request-Id"));
  EXPECT_EQ(r->request_id, id0);
}

TEST(RetryAfterTest, ParsesDeltaSecondsAndDates) {
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));  // 08:49:37
  EXPECT_EQ(ParseRetryAfter("120", "", now), milliseconds(120'000));
  EXPECT_EQ(ParseRetryAfter(" 0 ", "", now), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:47 GMT", "", now), milliseconds(10'000));
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:47 GMT", "", now), milliseconds(10'000));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:47 1994", "", now), milliseconds(10'000));
  // In the past: retry now.
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", "", now), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("soon", "", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", "", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("1.5", "", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("", "", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:47 PST", "", now), std::nullopt);
}

}  // namespace
}  // namespace fhir::client
