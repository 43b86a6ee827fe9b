// The ~20-line plugin of the README: uppercases replies.
#include <plugvisor/sdk/plugin.h>

#include <algorithm>
#include <cctype>

namespace sdk = plugvisor::sdk;

int main(int argc, char** argv) {
  sdk::define("shouter", "1.0.0")
      .on("response.pre_deliver", [](sdk::Context& ctx, const sdk::Json& data) {
        std::string text = data.value("content", "");
        std::transform(text.begin(), text.end(), text.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        ctx.log().info("shouting", {{"chars", text.size()}});
        return sdk::Result::patch({{"content", text}});
      });
  return sdk::run(argc, argv);
}
