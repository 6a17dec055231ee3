// `cxrtrain pack`: flags -> data::PackOptions -> data::run_pack, then the split table. Input is the NIH
// folder (--nih-root ...) or a generic labelled CSV with a label map (--csv, --label-map, --images).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "data/packer.h"
#include "launch/commands.h"

namespace cxr::launch {

void register_pack(CLI::App& app, Context& ctx) {
  auto opts = std::make_shared<data::PackOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pack", "Pack the NIH ChestX-ray14 folder, or any labelled CSV (CheXpert, PadChest, ...), into sharded HDF5 (cxrtrain.pack/1)");
  cmd->footer(
      "Examples:\n  cxrtrain pack --nih-root /data/nih-cxr14 --out packs/nih256 --size 256 --jobs 16\n"
      "  cxrtrain pack --csv /data/chexpert/CheXpert-v1.0-small/valid.csv --label-map configs/label_maps/chexpert.yaml \\\n"
      "      --images /data/chexpert --split-all test --out packs/chexpert_valid256\n"
      "The NIH folder holds Data_Entry_2017_v2020.csv (or Data_Entry_2017.csv), train_val_list.txt,\n"
      "test_list.txt, BBox_List_2017.csv and images_001/images/*.png ... images_012/images/*.png.\n"
      "A labelled CSV has one row per image; the label map (YAML) names its path, patient, sex, age, view\n"
      "(and optional split) columns and maps its labels onto the 14 NIH classes; classes it cannot map are\n"
      "'not evaluable' (manifest.json classes_not_evaluable). Format and shipped maps: docs/datasets.md.\n"
      "--nih-root and --csv are exclusive.");
  cmd->add_option("--nih-root", opts->nih_root, "NIH folder as shipped; the file flags below default into it");
  cmd->add_option("--data-entry", opts->data_entry, "Data_Entry CSV (v2020 or 2017; .csv or .csv.gz)");
  cmd->add_option("--train-val-list", opts->train_val_list, "train_val_list.txt");
  cmd->add_option("--test-list", opts->test_list, "test_list.txt");
  cmd->add_option("--bbox-list", opts->bbox_list, "BBox_List_2017.csv ('none' to skip)");
  cmd->add_option("--expert-labels", opts->expert_labels, "google2019_nih-chest-xray-labels.csv(.gz) ('none' to skip)");
  cmd->add_option("--csv", opts->csv, "Generic labelled CSV (.csv or .csv.gz) instead of the NIH folder; needs --label-map, --images");
  cmd->add_option("--label-map", opts->label_map, "With --csv: label map YAML (configs/label_maps/chexpert.yaml, padchest.yaml)");
  cmd->add_option("--split-all", opts->split_all,
                  "With --csv: put every row in this split (train|val|test; 'test' to evaluate on the whole set). "
                  "Default: the label map's split column, else a patient-wise train/val split");
  cmd->add_option("--uncertain", opts->uncertain,
                  "With --csv, per-label columns: uncertain labels as zeros|ones|exclude (drop the image); default: the label map's");
  cmd->add_option("--images", opts->image_dirs,
                  "NIH: folder(s) searched recursively for PNGs (default <root>/images*). --csv: folder(s) the CSV's paths are relative to");
  cmd->add_option("--out", opts->out, "Output pack folder (written to a temporary name, then renamed)");
  cmd->add_option("--size", opts->size, "Image side in pixels (area interpolation)")->capture_default_str();
  cmd->add_option("--val-fraction", opts->val_fraction, "Fraction of train_val *patients* put in val")
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Seed of the train/val patient split")->capture_default_str();
  cmd->add_option("--shard-size", opts->shard_size, "Images per shard (at most)")->capture_default_str();
  cmd->add_option("--jobs,-j", opts->jobs, "Decoding threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--compression", opts->compression, "gzip level for images, 0 = none (fastest to read)")
      ->capture_default_str();
  cmd->add_option("--bbox-space", opts->bbox_space, "Side of the pixel space of BBox_List coordinates")
      ->capture_default_str();
  cmd->add_flag("--dry-run", opts->dry_run, "Parse and check metadata only; print per-split counts and prevalence");
  cmd->add_flag("--allow-missing", opts->allow_missing, "Pack the images that exist; list the rest");
  cmd->add_flag("--overwrite", opts->overwrite, "Replace an existing --out");
  auto no_progress = std::make_shared<bool>(false);  // CLI11 writes here after this function returns
  cmd->add_flag("--no-progress", *no_progress, "No progress bar");
  cmd->callback([opts, &ctx, no_progress] {
    opts->command_line = ctx.command_line;
    opts->progress = !*no_progress;
    data::PackResult r = data::run_pack(*opts);
    std::fputs(r.summary.c_str(), stdout);
    if (!opts->dry_run) {
      std::printf("packed %lld images (%lld missing) into %s in %.1f s: %.1f img/s\n",
                  static_cast<long long>(r.images_written), static_cast<long long>(r.missing), opts->out.c_str(),
                  r.seconds, r.images_per_second);
    }
  });
}

}  // namespace cxr::launch
