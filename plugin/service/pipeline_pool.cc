#include "plugin/service/pipeline_pool.h"

namespace sdoh::service {

PipelinePool::PipelinePool(std::shared_ptr<const Pipeline> prototype, int max_uses)
    : prototype_(std::move(prototype)), max_uses_(max_uses) {}

PipelinePool::Lease::Lease(PipelinePool* pool, std::unique_ptr<Pipeline> pipeline, int uses)
    : pool_(pool), pipeline_(std::move(pipeline)), uses_(uses) {}

PipelinePool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), pipeline_(std::move(other.pipeline_)), uses_(other.uses_) {}

PipelinePool::Lease::~Lease() {
  if (pipeline_) pool_->Release(std::move(pipeline_), uses_ + 1);
}

fhir::Result<PipelinePool::Lease> PipelinePool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      Idle idle = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(idle.pipeline), idle.uses);
    }
  }
  auto loaded = LoadPipeline(prototype_->config.path);
  if (!loaded.ok()) return loaded.status();
  return Lease(this, std::make_unique<Pipeline>(std::move(*loaded)), 0);
}

fhir::Status PipelinePool::Prewarm(int n) {
  for (int i = 0; i < n; ++i) {
    auto loaded = LoadPipeline(prototype_->config.path);
    if (!loaded.ok()) return loaded.status();
    Release(std::make_unique<Pipeline>(std::move(*loaded)), 0);
  }
  return fhir::Status::Ok();
}

void PipelinePool::Release(std::unique_ptr<Pipeline> pipeline, int uses) {
  if (uses >= max_uses_) return;  // dropped: the next Acquire loads a fresh one
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(Idle{std::move(pipeline), uses});
}

}  // namespace sdoh::service
