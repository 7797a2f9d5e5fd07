// The compact per-run containers behind the screening collector (issue 2 §6).
#include "plugin/screening/interned_ids.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
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

// The tombstone filter may say "maybe" for an id never added, never "no" for one that was (a
// "no" skips the retraction of a counted screening): every id added, of every size, and ids
// that differ from them only at the end, answer as they must; few others say "maybe".
TEST(IdFilterTest, EveryIdAddedAnswersMaybeAndFewOthersDo) {
  IdFilter empty;
  EXPECT_FALSE(empty.MayHold("qr-1"));
  empty.Reset(0);
  EXPECT_FALSE(empty.MayHold(""));

  std::vector<std::string> added;
  for (int i = 0; i < 30000; ++i) added.push_back("qr-" + std::to_string(i * 7919));
  for (int len = 0; len <= 64; ++len) added.push_back(std::string(len, 'a'));
  IdFilter filter;
  filter.Reset(added.size());
  for (const std::string& id : added) filter.Add(id);
  for (const std::string& id : added) ASSERT_TRUE(filter.MayHold(id)) << id;

  size_t maybe = 0, asked = 0;
  for (int i = 0; i < 30000; ++i) {
    ++asked;
    if (filter.MayHold("qr-" + std::to_string(i * 7919) + "x")) ++maybe;
    ++asked;
    if (filter.MayHold("obs-" + std::to_string(i))) ++maybe;
  }
  EXPECT_LT(maybe, asked / 20) << maybe << " of " << asked;  // ~1.5% expected

  // More ids than it was sized for: still no "no" for any of them.
  IdFilter small;
  small.Reset(1);
  for (const std::string& id : added) small.Add(id);
  for (const std::string& id : added) ASSERT_TRUE(small.MayHold(id)) << id;
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

// Elements that own memory (the collector's PatientExtra) survive the chunk boundaries.
TEST(ChunkedVectorTest, OwningElementsKeepTheirValuesAcrossChunks) {
  ChunkedVector<std::string> v;
  for (int i = 0; i < 3000; ++i) v.push_back("patient-with-a-long-language-" + std::to_string(i));
  ASSERT_EQ(v.size(), 3000u);
  EXPECT_EQ(v[0], "patient-with-a-long-language-0");
  EXPECT_EQ(v[1023], "patient-with-a-long-language-1023");
  EXPECT_EQ(v[1024], "patient-with-a-long-language-1024");
  EXPECT_EQ(v[2999], "patient-with-a-long-language-2999");
}

// Blocks of a shared source never move or overlap, from operator new at first and from 2 MiB-
// aligned slabs after the first 4 MiB; containers sharing one source keep their own contents.
TEST(ChunkSourceTest, BlocksNeverOverlapAndSharingContainersKeepTheirContents) {
  ChunkSource source;
  std::vector<std::pair<char*, size_t>> blocks;
  for (int i = 0; i < 200; ++i) {
    const size_t bytes = i % 3 == 0 ? 256 * 1024 : 40 * 1024 + 8 * i;
    char* p = static_cast<char*>(source.Allocate(bytes));
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % alignof(std::max_align_t), 0u);
    std::memset(p, i & 0xFF, bytes);
    blocks.emplace_back(p, bytes);
  }
  std::sort(blocks.begin(), blocks.end());
  for (size_t i = 1; i < blocks.size(); ++i) {
    ASSERT_LE(blocks[i - 1].first + blocks[i - 1].second, blocks[i].first);
  }

  ChunkSource shared;
  IdTable ids(&shared);
  ChunkedVector<uint64_t> numbers(&shared);
  RunArena<uint32_t> runs(&shared);
  StringArena strings(&shared);
  bool inserted = false;
  std::vector<const uint32_t*> run_of;
  std::vector<std::string_view> text_of;
  for (uint32_t i = 0; i < 60000; ++i) {
    ASSERT_EQ(ids.Intern("id-" + std::to_string(i), &inserted), i);
    numbers.push_back(uint64_t{i} * 3);
    uint32_t* r = runs.Allocate(3);
    r[0] = i, r[1] = i + 1, r[2] = i + 2;
    run_of.push_back(r);
    text_of.push_back(strings.Add("text-" + std::to_string(i)));
  }
  for (uint32_t i = 0; i < 60000; i += 61) {
    EXPECT_EQ(ids.Name(i), "id-" + std::to_string(i));
    EXPECT_EQ(numbers[i], uint64_t{i} * 3);
    EXPECT_EQ(run_of[i][2], i + 2);
    EXPECT_EQ(text_of[i], "text-" + std::to_string(i));
  }
}

// Large arrays start on a 2 MiB boundary (what lets the kernel back them with huge pages) and
// keep their contents as they grow from below that size (operator new) to above it (mmap) and
// back; an id table whose slots cross it keeps every index.
TEST(LargeArrayAllocatorTest, LargeArraysAreHugePageAlignedAndKeepTheirContents) {
  std::vector<uint64_t, LargeArrayAllocator<uint64_t>> v;
  for (uint64_t i = 0; i < 1000000; ++i) v.push_back(i * 2654435761u);
  ASSERT_GE(v.capacity() * sizeof(uint64_t), size_t{2} << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % (uintptr_t{2} << 20), 0u);
  for (uint64_t i = 0; i < 1000000; i += 9973) ASSERT_EQ(v[i], i * 2654435761u) << i;
  EXPECT_EQ(v.back(), uint64_t{999999} * 2654435761u);
  v.resize(10);
  v.shrink_to_fit();  // back below 2 MiB: operator new again
  EXPECT_EQ(v[9], uint64_t{9} * 2654435761u);

  IdTable ids;  // 400,000 ids: its slots pass 2 MiB
  bool inserted = false;
  for (int i = 0; i < 400000; ++i)
    ASSERT_EQ(ids.Intern("o" + std::to_string(i), &inserted), uint32_t(i));
  for (int i = 0; i < 400000; i += 7919) {
    EXPECT_EQ(ids.Find("o" + std::to_string(i)), uint32_t(i));
    EXPECT_EQ(ids.Intern("o" + std::to_string(i), &inserted), uint32_t(i));
    EXPECT_FALSE(inserted);
  }
  EXPECT_EQ(ids.Find("o400000"), IdTable::kNone);
}

}  // namespace
}  // namespace sdoh
