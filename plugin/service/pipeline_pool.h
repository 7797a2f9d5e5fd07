// Pipelines for CDS calls running in parallel. The screening collector extends the catalog it
// reads with (it interns answer codes and registers the Questionnaires it meets), so two calls
// must not share one Pipeline; each call borrows one from this pool. Pipelines are loaded from
// the prototype's config file on demand (as many as calls run at once), given back after the
// call, and replaced by a fresh one after `max_uses` calls, which bounds what callers' codes
// and Questionnaires can add. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fhir/status.h"
#include "plugin/setup/pipeline.h"

namespace sdoh::service {

class PipelinePool {
 public:
  // `prototype` names the config file (config.path) the pool's pipelines are loaded from.
  explicit PipelinePool(std::shared_ptr<const Pipeline> prototype, int max_uses = 10000);

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Pipeline& operator*() { return *pipeline_; }

   private:
    friend class PipelinePool;
    Lease(PipelinePool* pool, std::unique_ptr<Pipeline> pipeline, int uses);
    PipelinePool* pool_;
    std::unique_ptr<Pipeline> pipeline_;
    int uses_;
  };

  // A pipeline no other call uses until the lease ends. Errors: the config no longer loads.
  fhir::Result<Lease> Acquire();
  // Loads `n` pipelines now (so the first calls do not pay for loading).
  fhir::Status Prewarm(int n);

 private:
  struct Idle {
    std::unique_ptr<Pipeline> pipeline;
    int uses = 0;
  };
  void Release(std::unique_ptr<Pipeline> pipeline, int uses);

  std::shared_ptr<const Pipeline> prototype_;
  int max_uses_;
  std::mutex mu_;
  std::vector<Idle> idle_;
};

}  // namespace sdoh::service
