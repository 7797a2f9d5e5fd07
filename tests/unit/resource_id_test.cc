// fhir/resource_id.h and fhir/printable.h (issue 13 #6, #7).
#include "fhir/resource_id.h"

#include <gtest/gtest.h>

#include "fhir/printable.h"

namespace fhir {
namespace {

TEST(ResourceIdTest, OnlyIdsFhirAllows) {
  EXPECT_TRUE(IsValidId("pat01"));
  EXPECT_TRUE(IsValidId("A-b.9"));
  EXPECT_TRUE(IsValidId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidId(std::string(65, 'x')));
  for (const char* bad : {"", ".", "..", "...", "a/b", "a|b", "a b", "a\tb", "a\x1b[31m",
                          "caf\xc3\xa9", "a_b", "a:b", "a%2Fb", "a\nb", "a?b", "a#b"}) {
    EXPECT_FALSE(IsValidId(bad)) << bad;
  }
}

TEST(ResourceIdTest, SplitReferenceNamesTheShape) {
  auto r = SplitReference("Patient/p1", "Patient");
  EXPECT_EQ(r.shape, TypedReference::Shape::kRelative);
  EXPECT_EQ(r.id, "p1");
  r = SplitReference("https://ehr.example/fhir/Patient/p1/_history/3", "Patient");
  EXPECT_EQ(r.shape, TypedReference::Shape::kAbsolute);
  EXPECT_EQ(r.base, "https://ehr.example/fhir");
  EXPECT_EQ(r.id, "p1");
  // Trailing segments other than _history make the id invalid, not another id.
  EXPECT_FALSE(IsValidId(SplitReference("Patient/a/b", "Patient").id));
  EXPECT_FALSE(IsValidId(SplitReference("Patient/../../etc/passwd", "Patient").id));
  EXPECT_FALSE(IsValidId(SplitReference("Patient/p1/_history/", "Patient").id));
  EXPECT_EQ(SplitReference("Group/g1", "Patient").shape, TypedReference::Shape::kNone);
  EXPECT_EQ(SplitReference("urn:uuid:1234", "Patient").shape, TypedReference::Shape::kNone);
  EXPECT_EQ(SplitReference("x/Patient/p1", "Patient").shape, TypedReference::Shape::kNone);
  EXPECT_EQ(NormalizeBase("HTTPS://EHR.Example/Fhir/"), "https://ehr.example/Fhir");
}

TEST(PrintableTest, ControlBytesAreEscapedUtf8Kept) {
  EXPECT_EQ(Printable("ok-1.2"), "ok-1.2");
  EXPECT_EQ(Printable("a\x1b[2Jb\n\x7f"), "a\\x1b[2Jb\\x0a\\x7f");
  EXPECT_EQ(Printable("back\\slash"), "back\\\\slash");
  EXPECT_EQ(Printable("caf\xc3\xa9 \xe4\xb8\xad"), "caf\xc3\xa9 \xe4\xb8\xad");
  EXPECT_EQ(Printable("\xc2\x9b"), "\\xc2\\x9b");  // C1 CSI
  EXPECT_EQ(Printable("\xff\xc3"), "\\xff\\xc3");  // not UTF-8
  EXPECT_EQ(Printable(std::string(10, 'x'), 4), "xxxx…");
}

}  // namespace
}  // namespace fhir
