// libFuzzer target: the YAML loaders (issue 7, "Bad input"): a config file, a rule file, an
// instrument mapping or a local form mapping, written to a temporary file and loaded with
// LoadConfig / Ruleset::Load / Catalog::Load. Errors are fine (they must be a Status naming the
// file); crashes, sanitizer reports, hangs and leaks are bugs.
//
// Input: a selector byte, then the file's bytes. Selector 'c' config, 'r' rule file,
// 'i' instrument mapping, 'f' form mapping; any other byte picks one by its value modulo 4.
//
// The temporary tree (made once per process, removed at exit):
//   DIR/config/fuzz.yaml         the config under test; DIR/config/rules -> SOURCE/config/rules
//   DIR/mappings                 a copy of SOURCE/mappings (so `mappings: ../mappings` resolves)
//   DIR/mappings/instruments/zz-fuzz.yaml, DIR/mappings/forms/zz-fuzz.yaml  (removed after use)
//   DIR/rules.yaml               a rule file, loaded against the catalog of SOURCE/mappings
//
// SDOH_FUZZ_YAML_MODES (environment, e.g. "cif"): run only those modes, to keep fuzzing the
// others while a finding in one is open.
//
// Run:   ./fuzz_yaml_loaders -max_total_time=600 tests/fuzz/corpus/yaml_loaders
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "plugin/rules/ruleset.h"
#include "plugin/setup/catalog.h"
#include "plugin/setup/config.h"

namespace fs = std::filesystem;

namespace {

struct Tree {
  fs::path dir;
  std::unique_ptr<sdoh::Catalog> catalog;  // of SOURCE/mappings, for rule files
};

void RemoveTree();

Tree& TheTree() {
  static Tree* t = [] {
    auto* tree = new Tree();
    std::string tmpl = (fs::temp_directory_path() / "sdoh-fuzz-yaml-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    tree->dir = tmpl;
    const fs::path src(SDOH_SOURCE_DIR);
    fs::create_directories(tree->dir / "config");
    fs::create_directory_symlink(src / "config" / "rules", tree->dir / "config" / "rules");
    fs::copy(src / "mappings", tree->dir / "mappings", fs::copy_options::recursive);
    auto catalog = sdoh::Catalog::Load((src / "mappings").string());
    if (!catalog.ok()) {
      std::fprintf(stderr, "fuzz_yaml_loaders: %s\n", catalog.status().message().c_str());
      std::abort();
    }
    tree->catalog = std::move(*catalog);
    std::atexit(RemoveTree);
    return tree;
  }();
  return *t;
}

void RemoveTree() {
  std::error_code ec;
  fs::remove_all(TheTree().dir, ec);
}

void Write(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (256u << 10)) return 0;
  Tree& tree = TheTree();
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  int mode;
  switch (data[0]) {
    case 'c':
      mode = 0;
      break;
    case 'r':
      mode = 1;
      break;
    case 'i':
      mode = 2;
      break;
    case 'f':
      mode = 3;
      break;
    default:
      mode = data[0] % 4;
  }
  static const char* only = std::getenv("SDOH_FUZZ_YAML_MODES");
  if (only != nullptr && std::string_view(only).find("crif"[mode]) == std::string_view::npos) {
    return 0;
  }
  std::error_code ec;
  switch (mode) {
    case 0: {
      fs::path path = tree.dir / "config" / "fuzz.yaml";
      Write(path, text);
      (void)sdoh::LoadConfig(path.string());
      break;
    }
    case 1: {
      fs::path path = tree.dir / "rules.yaml";
      Write(path, text);
      (void)sdoh::Ruleset::Load({path.string()}, *tree.catalog);
      break;
    }
    case 2:
    case 3: {
      fs::path path =
          tree.dir / "mappings" / (mode == 2 ? "instruments" : "forms") / "zz-fuzz.yaml";
      Write(path, text);
      (void)sdoh::Catalog::Load((tree.dir / "mappings").string());
      fs::remove(path, ec);
      break;
    }
  }
  return 0;
}
