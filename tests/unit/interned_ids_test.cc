// The compact per-run containers behind the screening collector (issue 2 §6).
#include "plugin/screening/interned_ids.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sdoh {
namespace {

// Ids of every length around the hash's 8-byte steps, and ids that differ only in their last
// byte, in a NUL, or in length: each gets its own index, in order of first appearance, and keeps
// it through every growth of the table.
TEST(IdTableTest, EveryDistinctIdKeepsItsOwnIndexThroughGrowth) {
  std::vector<std::string> ids;
  for (int i = 0; i < 50000; ++i) ids.push_back("pat-" + std::to_string(i));
  for (int len = 0; len <= 33; ++len) {
    ids.push_back(std::string(len, 'x'));
    ids.push_back(std::string(len, 'x') + std::string(1, '\0'));
    if (len > 0) ids.push_back(std::string(len - 1, 'x') + "y");
  }
  IdTable table;
  for (size_t i = 0; i < ids.size(); ++i) {
    bool inserted = false;
    ASSERT_EQ(table.Intern(ids[i], &inserted), i) << i;
    ASSERT_TRUE(inserted) << i;
  }
  EXPECT_EQ(table.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    bool inserted = true;
    EXPECT_EQ(table.Intern(ids[i], &inserted), i);
    EXPECT_FALSE(inserted);
    EXPECT_EQ(table.Find(ids[i]), i);
    EXPECT_EQ(table.Name(static_cast<uint32_t>(i)), ids[i]);
  }
  EXPECT_EQ(table.Find("pat-50000"), IdTable::kNone);
  EXPECT_EQ(table.Find("pat-1 "), IdTable::kNone);
  EXPECT_EQ(IdTable().Find("pat-1"), IdTable::kNone);
}

// Two tables are seeded differently (so ids from outside cannot be chosen to collide in every
// run), yet give the same indexes for the same input.
TEST(IdTableTest, IndexesDoNotDependOnTheSeed) {
  IdTable a, b;
  bool inserted = false;
  for (int i = 0; i < 5000; ++i) {
    std::string id = "obs/" + std::to_string(i * 7919 % 5003);
    ASSERT_EQ(a.Intern(id, &inserted), b.Intern(id, &inserted)) << id;
  }
}

TEST(ChunkedVectorTest, ElementsNeverMoveAsItGrows) {
  ChunkedVector<uint64_t> v;
  v.push_back(7);
  const uint64_t* first = &v[0];
  for (uint64_t i = 1; i < 5000; ++i) v.push_back(i * 3);
  EXPECT_EQ(first, &v[0]);
  EXPECT_EQ(v[0], 7u);
  EXPECT_EQ(v[4999], 4999u * 3);
  EXPECT_EQ(v.size(), 5000u);
}

}  // namespace
}  // namespace sdoh
