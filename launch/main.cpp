// cxrtrain: entry point. Parses the subcommand, sets up logging with the rank in every line, runs
// it, and turns every error into a logged message and a non-zero exit (2 = the user can fix it).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <string>

#include "core/error.h"
#include "core/log.h"
#include "core/version.h"
#include "launch/commands.h"
#include "launch/environment.h"

int main(int argc, char** argv) {
  cxr::launch::Context ctx;
  for (int i = 0; i < argc; ++i) ctx.command_line += (i ? " " : "") + std::string(argv[i]);

  const cxr::launch::LaunchEnv env = cxr::launch::detect_launch();
  cxr::LogOptions log;
  log.rank = env.world_rank;
  log.world_size = env.world_size;
  // Logging starts before CLI11 runs the subcommand, so -v/--verbose is read here.
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "-v" || std::string(argv[i]) == "--verbose") log.level = spdlog::level::debug;
  cxr::init_logging(log);

  CLI::App app{"cxrtrain " CXR_VERSION
               " - distributed ResNet training and rigorous evaluation for chest X-ray classifiers"};
  app.set_version_flag("--version", CXR_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.add_flag("-v,--verbose", "Debug-level logging");
  cxr::launch::register_pack(app, ctx);
  cxr::launch::register_synth(app, ctx);
  cxr::launch::register_info(app, ctx);
  cxr::launch::register_bench(app, ctx);
  cxr::launch::register_probe(app, ctx);
  cxr::launch::register_train(app, ctx);
  cxr::launch::register_study(app, ctx);
  cxr::launch::register_evaluate(app, ctx);
  cxr::launch::register_gradcam(app, ctx);
  cxr::launch::register_probe_shift(app, ctx);
  cxr::launch::register_report(app, ctx);
  cxr::launch::register_scaling(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const cxr::UserError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
