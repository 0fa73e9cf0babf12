# fuzz.cmake — libFuzzer targets for the file parsers, built with -DQB_FUZZ=ON by clang
# (whatever the project's C compiler), and a ctest per target that runs it for 60 s (label
# "fuzz") seeded with the valid files the parser's unit test saves.
option(QB_FUZZ "Build the libFuzzer targets (with clang, whatever the C compiler) and their ctests" OFF)
if(QB_FUZZ)
  if(CMAKE_C_COMPILER_ID MATCHES Clang)
    set(QB_FUZZ_CC ${CMAKE_C_COMPILER})
  else()
    find_program(QB_FUZZ_CC NAMES clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14)
    if(NOT QB_FUZZ_CC)
      message(FATAL_ERROR "QB_FUZZ=ON needs clang with libFuzzer: apt-get install clang")
    endif()
  endif()
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/probe.c "#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return (int)(d && n > 99); }\n")
  execute_process(COMMAND ${QB_FUZZ_CC} -fsanitize=fuzzer,address,undefined ${CMAKE_BINARY_DIR}/fuzz/probe.c -o ${CMAKE_BINARY_DIR}/fuzz/probe
                  RESULT_VARIABLE _fuzz_rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT _fuzz_rc EQUAL 0)
    message(FATAL_ERROR "QB_FUZZ=ON: ${QB_FUZZ_CC} cannot link -fsanitize=fuzzer: apt-get install libclang-rt-14-dev (or the version of your clang)")
  endif()
  file(GLOB _fuzz_headers ${CMAKE_SOURCE_DIR}/common/*.h ${CMAKE_SOURCE_DIR}/datasets/*.h)
  set(_fuzz_werror $<$<BOOL:${QB_WERROR}>:-Werror>)
endif()

# qb_fuzz_target(NAME SOURCES src… [LIBS -lfoo…] SEEDS dir SEED_TEST test): the parser's
# sources are compiled directly (not from qbcore), all instrumented; ctest NAME runs it after
# SEED_TEST has written its valid files into dir.
function(qb_fuzz_target name)
  if(NOT QB_FUZZ)
    return()
  endif()
  cmake_parse_arguments(F "" "SEEDS;SEED_TEST" "SOURCES;LIBS" ${ARGN})
  list(TRANSFORM F_SOURCES PREPEND ${CMAKE_SOURCE_DIR}/)
  set(out ${CMAKE_BINARY_DIR}/fuzz/${name})
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/fuzz
    COMMAND ${QB_FUZZ_CC} -std=c11 -O1 -g -Wall -Wextra ${_fuzz_werror} -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=all -fno-omit-frame-pointer -I${CMAKE_SOURCE_DIR} ${F_SOURCES} ${F_LIBS} -o ${out}
    DEPENDS ${F_SOURCES} ${_fuzz_headers}
    COMMENT "Building the libFuzzer target ${name} with ${QB_FUZZ_CC}" VERBATIM COMMAND_EXPAND_LISTS)
  add_custom_target(${name} ALL DEPENDS ${out})
  set_tests_properties(${F_SEED_TEST} PROPERTIES FIXTURES_SETUP ${name}_seeds)
  add_test(NAME ${name} COMMAND sh -c "mkdir -p \"$1\" && exec \"$0\" -max_total_time=60 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=\"$1/../\" \"$1\" \"$2\""
           ${out} ${CMAKE_BINARY_DIR}/fuzz/${name}_corpus ${F_SEEDS})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED ${name}_seeds TIMEOUT 300 LABELS fuzz)
endfunction()
