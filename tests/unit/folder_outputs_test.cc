// FolderOutputs: a patient's flags.ndjson lines are the same whether the sink's Prepare rendered
// them (on the thread that evaluated the patient, issue 17) or OnPatient did.
#include "plugin/outputs/folder_outputs.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace sdoh {
namespace {

std::vector<NeedFlag> Flags(const std::string& patient) {
  NeedFlag food;
  food.patient_id = patient;
  food.need = "food-insecurity";
  food.possible = true;
  food.evidence["QuestionnaireResponse/qr-" + patient] = "2";
  food.rules = {"food-hvs"};
  NeedFlag housing;
  housing.patient_id = patient;
  housing.need = "housing-instability";
  housing.possible = false;
  housing.stale = true;
  housing.evidence["Observation/o-\"quoted\"-" + patient] = "";
  housing.rules = {"housing-a", "housing-b"};
  return {food, housing};
}

// Writes two flagged patients and one without flags; `prepare`: through Prepare first.
std::string Write(const std::filesystem::path& dir, bool prepare, PassTally* tally) {
  std::filesystem::create_directories(dir);
  FolderOutputs out(dir.string(), "run-test", "1.2.3", /*dry_run=*/true);
  EXPECT_TRUE(out.Open().ok());
  for (const char* id : {"pat01", "pat02", "pat03"}) {
    PatientRecord rec;
    rec.id = id;
    rec.facts.present = true;
    PatientResult result{
        rec, id == std::string("pat03") ? std::vector<NeedFlag>{} : Flags(id), {}, {}};
    if (prepare) out.Prepare(result);
    out.OnPatient(result);
  }
  EXPECT_TRUE(out.Commit("{}").ok());
  *tally = out.tally();
  return test::ReadFile(dir / "flags.ndjson");
}

TEST(FolderOutputsTest, PreparedAndUnpreparedResultsWriteTheSameLines) {
  const std::filesystem::path base = std::filesystem::temp_directory_path() /
                                     ("sdoh-folder-outputs-" + std::to_string(::getpid()));
  PassTally prepared_tally, unprepared_tally;
  const std::string prepared = Write(base / "prepared", true, &prepared_tally);
  const std::string unprepared = Write(base / "unprepared", false, &unprepared_tally);
  std::string expected;
  for (const char* id : {"pat01", "pat02"}) {
    for (const NeedFlag& f : Flags(id)) expected += FlagLine(f, "1.2.3") + "\n";
  }
  EXPECT_EQ(prepared, expected);
  EXPECT_EQ(unprepared, expected);
  EXPECT_EQ(prepared_tally.flags, 4u);
  EXPECT_EQ(unprepared_tally.flags, 4u);
  EXPECT_EQ(prepared_tally.patients_flagged, 2u);
  EXPECT_EQ(prepared_tally.flags_by_need, unprepared_tally.flags_by_need);
  std::filesystem::remove_all(base);
}

// FlagLine and AppendFlagLine write the same text; appending keeps what was there.
TEST(FolderOutputsTest, AppendFlagLineAppendsFlagLine) {
  std::string out = "before\n";
  for (const NeedFlag& f : Flags("pat09")) AppendFlagLine(f, "9", &out);
  const std::vector<NeedFlag> flags = Flags("pat09");
  EXPECT_EQ(out, "before\n" + FlagLine(flags[0], "9") + FlagLine(flags[1], "9"));
  EXPECT_NE(FlagLine(flags[1], "9").find("\"stale\":true"), std::string::npos);
  EXPECT_NE(FlagLine(flags[1], "9").find("o-\\\"quoted\\\"-pat09"), std::string::npos);
}

}  // namespace
}  // namespace sdoh
