#pragma once

#include "dispatch/types.h"
#include "plugvisor/admin/v1/admin.pb.h"
#include "plugvisor/hooks/v1/hooks.pb.h"
#include "process/plugin_runtime.h"
#include "store/records.h"

namespace plugvisor::api {

void to_proto(const dispatch::Receipt& r, plugvisor::hooks::v1::Receipt* out);
void to_proto(const process::PluginSnapshot& s, plugvisor::admin::v1::PluginStatus* out);
void to_proto(const store::EventRecord& e, plugvisor::admin::v1::Event* out);

}  // namespace plugvisor::api
