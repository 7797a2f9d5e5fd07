#include "fhir/client/url.h"

#include <gtest/gtest.h>

namespace fhir::client {
namespace {

TEST(UrlTest, OriginIsSchemeHostAndPort) {
  EXPECT_EQ(Origin("https://EHR.example.org/fhir/Patient?x=1"), "https://ehr.example.org:443");
  EXPECT_EQ(Origin("http://127.0.0.1:8080/fhir"), "http://127.0.0.1:8080");
  EXPECT_EQ(Origin("http://[::1]:9/x"), "http://[::1]:9");
  EXPECT_EQ(Origin("ftp://x/y"), "");
  EXPECT_EQ(Origin("/relative"), "");
  EXPECT_EQ(Origin("http://user:pw@host/"), "");  // userinfo is refused outright
}

TEST(UrlTest, SameOriginComparesSchemeHostAndPort) {
  EXPECT_TRUE(SameOrigin("https://ehr.example.org/fhir", "https://ehr.example.org:443/fhir/x"));
  EXPECT_TRUE(SameOrigin("http://h/fhir", "http://H:80/other"));
  EXPECT_FALSE(SameOrigin("https://ehr.example.org/fhir", "http://ehr.example.org/fhir"));
  EXPECT_FALSE(SameOrigin("https://ehr.example.org/fhir", "https://ehr.example.org:8443/fhir"));
  EXPECT_FALSE(SameOrigin("https://ehr.example.org/fhir", "https://evil.example.org/fhir"));
  EXPECT_FALSE(SameOrigin("https://ehr.example.org/fhir", "https://ehr.example.org.evil.io/fhir"));
  EXPECT_FALSE(SameOrigin("https://ehr.example.org/fhir", "Patient?page=2"));
  EXPECT_FALSE(SameOrigin("", ""));
}

TEST(UrlTest, ResolvesAbsoluteAndRelativeLinks) {
  const std::string base = "http://h:1/fhir";
  EXPECT_EQ(ResolveUrl(base, "http://other/x?y"), "http://other/x?y");
  EXPECT_EQ(ResolveUrl(base, "Patient?_offset=20"), "http://h:1/fhir/Patient?_offset=20");
  EXPECT_EQ(ResolveUrl(base + "/", "Patient"), "http://h:1/fhir/Patient");
  EXPECT_EQ(ResolveUrl(base, "/other/Patient?a=1"), "http://h:1/other/Patient?a=1");
  EXPECT_EQ(ResolveUrl(base, "?_getpages=abc"), "http://h:1/fhir?_getpages=abc");
}

TEST(UrlTest, EncodesAndDecodesParams) {
  Params p = {{"identifier", "http://sys|a b"}, {"_lastUpdated", "ge2024-01-01T00:00:00+01:00"}};
  std::string q = EncodeParams(p);
  EXPECT_EQ(q,
            "identifier=http%3A%2F%2Fsys%7Ca%20b&_lastUpdated=ge2024-01-01T00%3A00%3A00%2B01%3A00");
  EXPECT_EQ(DecodeParams(q), p);
  EXPECT_EQ(DecodeParams("a=1+2&b&&c=%zz"), (Params{{"a", "1 2"}, {"b", ""}, {"c", "%zz"}}));
}

}  // namespace
}  // namespace fhir::client
