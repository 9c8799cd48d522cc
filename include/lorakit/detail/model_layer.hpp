// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// ModelLayer: what Model needs of a registered LoRALinear, whatever its Base and Kernel.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lorakit/core/types.hpp"
#include "lorakit/detail/state_clock.hpp"
#include "lorakit/error.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/variants/all.hpp"

namespace lorakit {

namespace detail {

// One module of an adapter as Model hands it to a layer, whatever the layer's variant.
struct ModuleWeights {
  VariantKind variant = VariantKind::lora;
  StoredView a;          // A:(in,r)
  StoredView b;          // B:(r,out)
  StoredView magnitude;  // DoRA's m:(1,out); empty for LoRA
};

// What Model needs of a registered layer, whatever its Base and Kernel (off the hot path).
class ModelLayer {
 public:
  virtual ~ModelLayer() = default;
  [[nodiscard]] virtual Index in_features() const = 0;
  [[nodiscard]] virtual Index out_features() const = 0;
  [[nodiscard]] virtual Index workspace_floats(Index rows) const = 0;
  virtual void check(const std::string& adapter, const ModuleWeights& w, const LoRA::Params& p,
                     float scale, ProblemList& problems) const = 0;
  virtual void attach(const std::string& adapter, const ModuleWeights& w, const LoRA::Params& p,
                      float scale, std::shared_ptr<const void> owner, AdapterId id,
                      bool active) = 0;
  virtual bool detach(std::string_view adapter) = 0;
  virtual void set_scale(std::string_view adapter, float scale) = 0;
  virtual void set_active(std::string_view adapter, bool active) = 0;
  [[nodiscard]] virtual bool mergeable() const = 0;
  virtual void merge(std::string_view adapter, bool keep_backup) = 0;
  virtual void unmerge(std::string_view adapter) = 0;
  virtual void check_unmerge(std::string_view adapter) const = 0;
  virtual void unload(std::string_view adapter) = 0;
  virtual void bind_clock(StateClock* clock) = 0;
  [[nodiscard]] virtual bool enabled() const = 0;
};

// A layer of variant LoRA takes LoRA modules; a layer of AnyVariant takes LoRA and DoRA ones.
template <class Layer>
class ModelLayerOf final : public ModelLayer {
  using Variant = typename Layer::variant_type;
  static_assert(std::is_same_v<Variant, LoRA> || std::is_same_v<Variant, AnyVariant>,
                "Model holds layers of variant LoRA or AnyVariant");

 public:
  explicit ModelLayerOf(Layer& layer) : layer_(&layer) {}
  Index in_features() const override { return layer_->in_features(); }
  Index out_features() const override { return layer_->out_features(); }
  Index workspace_floats(Index rows) const override { return layer_->workspace_floats(rows); }
  void check(const std::string& adapter, const ModuleWeights& w, const LoRA::Params& p, float scale,
             ProblemList& problems) const override {
    if constexpr (std::is_same_v<Variant, LoRA>) {
      if (w.variant != VariantKind::lora) {
        problems.add(Errc::unsupported, {},
                     "adapter '" + adapter +
                         "' is a DoRA adapter and this layer takes LoRA only: build it as "
                         "LoRALinear<Base, AnyVariant> to attach DoRA");
        return;
      }
    }
    layer_->check_attach(adapter, weights(w), params(w, p), scale, problems);
  }
  void attach(const std::string& adapter, const ModuleWeights& w, const LoRA::Params& p,
              float scale, std::shared_ptr<const void> owner, AdapterId id, bool active) override {
    layer_->attach(adapter, weights(w), params(w, p),
                   typename Layer::AttachOptions{
                       .scale = scale, .owner = std::move(owner), .id = id, .active = active});
  }
  bool detach(std::string_view adapter) override { return layer_->detach(adapter); }
  void set_scale(std::string_view adapter, float scale) override {
    layer_->set_scale(adapter, scale);
  }
  void set_active(std::string_view adapter, bool active) override {
    layer_->set_active(adapter, active);
  }
  bool mergeable() const override { return Layer::kMergeable; }
  void merge(std::string_view adapter, bool keep_backup) override {
    if constexpr (Layer::kMergeable) {
      layer_->merge(adapter, keep_backup);
    } else {
      (void)keep_backup;
      not_mergeable(adapter);
    }
  }
  void unmerge(std::string_view adapter) override {
    if constexpr (Layer::kMergeable) {
      layer_->unmerge(adapter);
    } else {
      not_mergeable(adapter);
    }
  }
  void check_unmerge(std::string_view adapter) const override {
    if constexpr (Layer::kMergeable) {
      layer_->check_unmerge(adapter);
    } else {
      not_mergeable(adapter);
    }
  }
  void unload(std::string_view adapter) override { layer_->unload(adapter); }
  void bind_clock(StateClock* clock) override { layer_->bind_clock(clock); }
  bool enabled() const override { return layer_->enabled(); }

 private:
  [[noreturn]] static void not_mergeable(std::string_view adapter) {
    throw Error(Errc::unsupported, {},
                "adapter '" + std::string(adapter) +
                    "': this layer's base has no writable weights to merge into");
  }
  static typename Layer::Weights weights(const ModuleWeights& w) noexcept {
    if constexpr (std::is_same_v<Variant, LoRA>) {
      return LoRA::Weights{w.a, w.b};
    } else if (w.variant == VariantKind::dora) {
      DoRA::Weights d;
      d.a = w.a;
      d.b = w.b;
      d.magnitude = w.magnitude;
      return AnyVariant::make<DoRA>(d);
    } else {
      return AnyVariant::make<LoRA>(LoRA::Weights{w.a, w.b});
    }
  }
  static typename Layer::Params params(const ModuleWeights& w, const LoRA::Params& p) noexcept {
    if constexpr (std::is_same_v<Variant, LoRA>) {
      (void)w;
      return p;
    } else {
      return w.variant == VariantKind::dora ? AnyVariant::params<DoRA>(p)
                                            : AnyVariant::params<LoRA>(p);
    }
  }
  Layer* layer_;
};

// Keeps an adapter, and f32 copies of any 16-bit tensors, alive for the layers that view them.
struct AttachedData {
  std::shared_ptr<const Adapter> adapter;
  std::vector<std::vector<float>> converted;
};

}  // namespace detail

}  // namespace lorakit
