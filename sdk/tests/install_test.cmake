# Installs the SDK's parts of a build tree into a scratch prefix, then builds a plugin against
# it twice: with find_package(plugvisor) and with pkg-config plugvisor-sdk.
#   cmake -DBUILD_DIR=... -DCONSUMER_DIR=... -DWORK_DIR=... -DGENERATOR=... -P install_test.cmake
# Only the directories that make up the exported package are installed (their cmake_install
# scripts), so the test does not depend on every other target of the tree being built.
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(RUN_OUTPUT "${out}${err}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
foreach(dir proto common supervisor/dispatch sdk)
  run(${CMAKE_COMMAND} -DCMAKE_INSTALL_PREFIX=${prefix} -P ${BUILD_DIR}/${dir}/cmake_install.cmake)
endforeach()

# 1. CMake package.
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/hello-plugin --describe)
if(NOT RUN_OUTPUT MATCHES "\"id\": \"shouter\"")
  message(FATAL_ERROR "unexpected --describe output:\n${RUN_OUTPUT}")
endif()
run(${WORK_DIR}/build/hello-plugin-test)

# 2. pkg-config.
find_program(PKG_CONFIG pkg-config REQUIRED)
file(GLOB_RECURSE pc_files ${prefix}/*/plugvisor-sdk.pc)
list(GET pc_files 0 pc_file)
get_filename_component(pc_dir ${pc_file} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
run(${PKG_CONFIG} --cflags --libs plugvisor-sdk)
string(STRIP "${RUN_OUTPUT}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run(c++ -std=c++20 ${CONSUMER_DIR}/main.cc -o ${WORK_DIR}/hello-plugin-pc ${flags})
execute_process(COMMAND ${WORK_DIR}/hello-plugin-pc RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "this is a plugvisor plugin")
  message(FATAL_ERROR "pkg-config build: expected exit 2 and an explanation, got ${rc}: ${err}")
endif()
message(STATUS "installed package works with find_package and pkg-config")
