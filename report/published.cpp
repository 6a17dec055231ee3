// The published numbers (see published.h). Sources: the reference study this project reproduces
// (../shared/DESIGN.md), Wang et al. 2017 (arXiv 1705.02315, ResNet-50 column of its AUROC table) and
// Rajpurkar et al. 2017, CheXNet (arXiv 1711.05225, Table 1).
#include "report/published.h"

namespace cxr::report {
namespace {

// Both papers tabulate in the order of NIH's original release (Data_Entry_2017's label list), not in
// cxrtrain's alphabetical order: the values are placed by name.
constexpr std::array<const char*, data::kNumClasses> kPaperOrder = {
    "Atelectasis", "Cardiomegaly",  "Effusion", "Infiltration", "Mass",     "Nodule",             "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema",   "Emphysema",    "Fibrosis", "Pleural_Thickening", "Hernia"};

std::array<std::optional<double>, data::kNumClasses> in_paper_order(std::array<double, data::kNumClasses> v) {
  std::array<std::optional<double>, data::kNumClasses> out;
  for (size_t i = 0; i < v.size(); ++i) out[static_cast<size_t>(*data::class_index(kPaperOrder[i]))] = v[i];
  return out;
}

}  // namespace

const std::vector<PublishedResult>& published_results() {
  static const std::vector<PublishedResult> results = [] {
    std::vector<PublishedResult> r;
    PublishedResult ref;
    ref.key = "reference";
    ref.name = "reference study";
    ref.citation = "the ResNet-50 study cxrtrain reproduces (../shared/DESIGN.md): random initialisation, Adam with a "
                   "fixed learning rate, no augmentation, one run";
    const auto at = [](const char* name) { return static_cast<size_t>(*data::class_index(name)); };
    ref.auroc[at("Cardiomegaly")] = 0.852;
    ref.auroc[at("Edema")] = 0.825;
    ref.auroc[at("Pneumothorax")] = 0.816;
    ref.auroc[at("Nodule")] = 0.642;
    ref.auroc[at("Pneumonia")] = 0.668;
    ref.auroc[at("Infiltration")] = 0.684;
    ref.mean = 0.744;
    ref.caveats = {"one seed, no confidence intervals reported",
                   "only six classes and the macro mean are reported"};
    r.push_back(ref);

    PublishedResult wang;
    wang.key = "wang2017";
    wang.name = "Wang et al. 2017";
    wang.citation = "Wang et al., ChestX-ray8, CVPR 2017 (arXiv 1705.02315), ResNet-50";
    wang.auroc = in_paper_order({0.7003, 0.8100, 0.7585, 0.6614, 0.6933, 0.6687, 0.6580, 0.7993, 0.7032, 0.8052, 0.8330,
                      0.7859, 0.6835, 0.8717});
    wang.mean = 0.745;
    wang.caveats = {"ImageNet-pretrained weights, not random initialisation",
                    "its own random image split, not the official patient-wise test list",
                    "labels of the first release, before the 2017 and 2020 metadata revisions"};
    r.push_back(wang);

    PublishedResult chexnet;
    chexnet.key = "chexnet";
    chexnet.name = "CheXNet";
    chexnet.citation = "Rajpurkar et al., CheXNet (arXiv 1711.05225), DenseNet-121";
    chexnet.auroc = in_paper_order({0.8094, 0.9248, 0.8638, 0.7345, 0.8676, 0.7802, 0.7680, 0.8887, 0.7901, 0.8878, 0.9371,
                         0.8047, 0.8062, 0.9164});
    chexnet.mean = 0.841;
    chexnet.caveats = {"DenseNet-121, ImageNet-pretrained, with augmentation: a different model",
                       "its own patient split (98,637 / 6,351 / 420 images), not the official test list",
                       "one model, no confidence intervals for the 14-class table"};
    r.push_back(chexnet);
    return r;
  }();
  return results;
}

}  // namespace cxr::report
