// Transaction Bundles of conditional creates (pure; issue 5). Every entry is
// POST <Type> with request.ifNoneExist "identifier=<system>|<value>"; a ServiceRequest gets a
// fullUrl urn:uuid derived from its identifier, and a Task of the same group points its focus
// at that urn (the planner writes the focus as a logical identifier reference), or at the
// server's ServiceRequest when only the Task is created.
#pragma once

#include <string>
#include <vector>

namespace sdoh::writeback {

struct WriteEntry {
  std::string type;        // ServiceRequest | Task | Flag
  std::string identifier;  // business identifier value
  std::string json;        // the planned resource
};

// What is created for one (patient, need): never split across Bundles, so that a Task's
// urn:uuid focus resolves within its transaction.
struct WriteGroup {
  std::string patient;
  std::string need;
  std::vector<WriteEntry> entries;
  std::string task_focus;  // "ServiceRequest/<id>" when the ServiceRequest exists already
};

// "urn:uuid:<8-4-4-4-12>" from SHA-256 of "<system>|<identifier>" (version 4/variant bits set).
std::string UrnFor(const std::string& system, const std::string& identifier);

// The Task JSON with focus = {"reference": focus_reference}.
std::string WithFocus(const std::string& task_json, const std::string& focus_reference);

// A transaction Bundle of the groups' entries, in order.
std::string BuildTransaction(const std::vector<const WriteGroup*>& groups,
                             const std::string& system);

// Packs groups into batches of at most `max_entries` entries (a larger group goes alone).
std::vector<std::vector<const WriteGroup*>> PackBatches(const std::vector<WriteGroup>& groups,
                                                        int max_entries);

}  // namespace sdoh::writeback
