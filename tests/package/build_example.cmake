# The installed package at work: installs the build into a fresh prefix, then builds examples/
# against it twice — with find_package(lumos) + lumos::lumos, and with pkg-config — and runs
# both programs on the bundled model and sample face. Run by ctest (package_example):
#   cmake -DBUILD_DIR=build -DSOURCE_DIR=. -DWORK_DIR=build/package_test -DMODEL=… -DIMAGE=… -P build_example.cmake
# The work folder keeps its path between runs, so ccache serves the compiles again.
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "failed (${code}): ${ARGN}\n${out}\n${err}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

function(expect_explained program out_dir)
  run(${program} ${MODEL} ${IMAGE} ${out_dir})
  if(NOT output MATCHES "top class: happy")
    message(FATAL_ERROR "${program} did not find the smile:\n${output}")
  endif()
  foreach(file input.png gradcam_happy.png gradcam_happy.npy explanation.json)
    if(NOT EXISTS ${out_dir}/explained/${file})
      message(FATAL_ERROR "${program} did not write ${out_dir}/explained/${file}:\n${output}")
    endif()
  endforeach()
  message(STATUS "${program}: ${output}")
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${prefix} ${WORK_DIR}/build ${WORK_DIR}/out)
file(MAKE_DIRECTORY ${WORK_DIR}/out)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# Installed headers include only each other (never a private header of src/).
file(GLOB headers ${prefix}/include/lumos/*.hpp)
foreach(header ${headers})
  file(STRINGS ${header} includes REGEX "^#include \"")
  foreach(line ${includes})
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" included "${line}")
    if(NOT EXISTS ${prefix}/include/${included})
      message(FATAL_ERROR "${header} includes \"${included}\", which is not installed")
    endif()
  endforeach()
endforeach()

# find_package(lumos), as examples/CMakeLists.txt does.
find_program(CCACHE ccache)
set(launcher)
set(compiler c++)
if(CCACHE)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
  set(compiler ${CCACHE} c++)
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples -B ${WORK_DIR}/build -G Ninja -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${prefix} ${launcher})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
expect_explained(${WORK_DIR}/build/explain_image ${WORK_DIR}/out/cmake)

# pkg-config, as a Makefile would.
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
run(pkg-config --cflags --libs lumos)
separate_arguments(flags UNIX_COMMAND "${output}")
run(${compiler} -O1 ${SOURCE_DIR}/examples/explain_image.cpp -o ${WORK_DIR}/build/explain_image_pkgconfig ${flags}
    -Wl,-rpath,${prefix}/lib)
expect_explained(${WORK_DIR}/build/explain_image_pkgconfig ${WORK_DIR}/out/pkgconfig)
