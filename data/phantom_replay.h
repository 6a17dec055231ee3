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
  // What to change in a film: its planted markers (bit s draws spec s's marker; -1 = the film's own), the AP
  // films' text tags and ECG electrodes (drawn last from their own random stream; the lead letter stays), one
  // class's lesion, or every lesion but one (every lesion and anatomy change has its own random draws, so the
  // rest of the film is unchanged).
  struct Variant {
    int markers = -1;
    bool natural_markers = true;
    int without_lesion = -1;
    int only_lesion = -1;  // >= 0: every other class's lesion left out (this one kept if the film has it)
    // Scanner changes (data/scanner_shift.h): the film taken in another view (-1: its own), other film
    // noise and display window, other text tags. Each has its own random draws, so the rest is unchanged.
    int view = -1;
    float noise_scale = 1.f;          // multiplies the PA and AP film noise
    float window_scale = 1.f;         // multiplies the top of the display window (wider: darker, flatter)
    float portable_tag_probability = -1, ecg_leads_probability = -1, laterality_probability = -1;  // -1: as made
  };
  // image: size()^2 bytes; mask (uint16 lesion bits) and anatomy (kAnat* bits incl. kAnatMarker) may be null.
  void render(const SynthRecord& record, const Variant& variant, uint8_t* image, uint16_t* mask,
              uint8_t* anatomy) const;
  // The film as the pack holds it.
  void render(const SynthRecord& record, uint8_t* image, uint16_t* mask, uint8_t* anatomy) const {
    render(record, Variant{}, image, mask, anatomy);
  }

 private:
  std::string pack_dir_;
  SynthOptions options_;
  SynthPlan plan_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace cxr::data
