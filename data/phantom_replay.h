// Re-rendering a phantom pack's films from its manifest: the plan is rebuilt from the recorded `synth` options,
// so a film comes out bit for bit as the pack holds it, together with its anatomy map (Grad-CAM's regions) and
// with its planted markers switched on or off at will (the causal test's paired films: same seed, same patient,
// same lesions, only the marker differs).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "data/synth.h"

namespace cxr::data {

class PhantomReplay {
 public:
  // UserError when the pack is not a phantom, its manifest lacks the options, or its generator parameters are
  // not this build's (the films could not be reproduced).
  explicit PhantomReplay(const std::string& pack_dir);

  const SynthPlan& plan() const { return plan_; }
  int size() const { return options_.size; }
  // The film's plan (labels, patient, render seed, marker bits); UserError naming the image when unknown.
  const SynthRecord& record(const std::string& image_index) const;
  // image: size()^2 bytes; mask (uint16 lesion bits) and anatomy (kAnat* bits incl. kAnatMarker) may be null.
  // markers: bit s draws the marker of shortcut spec s (record.shortcut gives the pack's own film).
  // natural_markers = false leaves out the AP films' text tags and ECG electrodes (the lead letter stays); they
  // are drawn last from their own random stream, so everything else is unchanged.
  void render(const SynthRecord& record, uint8_t markers, uint8_t* image, uint16_t* mask, uint8_t* anatomy,
              bool natural_markers = true) const;

 private:
  std::string pack_dir_;
  SynthOptions options_;
  SynthPlan plan_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace cxr::data
