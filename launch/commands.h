// Every cxrtrain subcommand registers itself on the CLI11 app through one function here; main()
// parses, then runs the chosen subcommand's callback inside a single error handler.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace cxr::launch {

struct Context {
  std::string command_line;  // the whole argv, recorded in outputs
};

void register_pack(CLI::App& app, Context& ctx);
void register_synth(CLI::App& app, Context& ctx);
void register_info(CLI::App& app, Context& ctx);
void register_bench(CLI::App& app, Context& ctx);
void register_probe(CLI::App& app, Context& ctx);
void register_train(CLI::App& app, Context& ctx);
void register_evaluate(CLI::App& app, Context& ctx);
void register_gradcam(CLI::App& app, Context& ctx);
void register_report(CLI::App& app, Context& ctx);
void register_scaling(CLI::App& app, Context& ctx);
void register_study(CLI::App& app, Context& ctx);
void register_probe_shift(CLI::App& app, Context& ctx);

}  // namespace cxr::launch
