# plugvisor_grpc_library(<target> ROOT <dir> FILES <relative .proto>...)
# Generates C++ messages and gRPC stubs for FILES (paths relative to ROOT) into a static library
# whose include directory is the generated tree.
function(plugvisor_grpc_library target)
  cmake_parse_arguments(ARG "" "ROOT" "FILES" ${ARGN})
  set(gen_dir ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen_dir})
  set(sources)
  foreach(proto ${ARG_FILES})
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(outs ${gen_dir}/${stem}.pb.cc ${gen_dir}/${stem}.pb.h
             ${gen_dir}/${stem}.grpc.pb.cc ${gen_dir}/${stem}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc --proto_path=${ARG_ROOT} --cpp_out=${gen_dir} --grpc_out=${gen_dir}
              --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN} ${ARG_ROOT}/${proto}
      DEPENDS ${ARG_ROOT}/${proto}
      COMMENT "protoc ${proto}")
    list(APPEND sources ${gen_dir}/${stem}.pb.cc ${gen_dir}/${stem}.grpc.pb.cc)
  endforeach()
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} SYSTEM PUBLIC $<BUILD_INTERFACE:${gen_dir}>)
  target_link_libraries(${target} PUBLIC gRPC::grpc++ protobuf::libprotobuf)
endfunction()
