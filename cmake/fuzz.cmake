# fuzz.cmake — libFuzzer targets for the file parsers, built with -DQB_FUZZ=ON by clang
# (whatever the project's C compiler), and a ctest per target that runs it for 60 s (label
# "fuzz") seeded with the valid files the parser's unit test saves.
option(QB_FUZZ "Build the libFuzzer target fuzz_gguf (with clang, whatever the C compiler) and its ctest" OFF)
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
  # compiled directly (not from qbcore): only the reader and its two helpers, all instrumented
  set(_fuzz_srcs ${CMAKE_SOURCE_DIR}/datasets/tests/fuzz_gguf.c ${CMAKE_SOURCE_DIR}/datasets/gguf.c
                 ${CMAKE_SOURCE_DIR}/common/qb.c ${CMAKE_SOURCE_DIR}/common/io.c)
  set(_fuzz_werror $<$<BOOL:${QB_WERROR}>:-Werror>)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/fuzz/fuzz_gguf
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/fuzz
    COMMAND ${QB_FUZZ_CC} -std=c11 -O1 -g -Wall -Wextra ${_fuzz_werror} -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=all -fno-omit-frame-pointer -I${CMAKE_SOURCE_DIR} ${_fuzz_srcs} -o ${CMAKE_BINARY_DIR}/fuzz/fuzz_gguf
    DEPENDS ${_fuzz_srcs} ${CMAKE_SOURCE_DIR}/datasets/gguf.h ${CMAKE_SOURCE_DIR}/common/qb.h ${CMAKE_SOURCE_DIR}/common/io.h
    COMMENT "Building the libFuzzer target fuzz_gguf with ${QB_FUZZ_CC}" VERBATIM COMMAND_EXPAND_LISTS)
  add_custom_target(fuzz_gguf ALL DEPENDS ${CMAKE_BINARY_DIR}/fuzz/fuzz_gguf)
  set_tests_properties(test_gguf PROPERTIES FIXTURES_SETUP gguf_seeds)
  add_test(NAME fuzz_gguf COMMAND sh -c "mkdir -p \"$1\" && exec \"$0\" -max_total_time=60 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=\"$1/../\" \"$1\" \"$2\""
           ${CMAKE_BINARY_DIR}/fuzz/fuzz_gguf ${CMAKE_BINARY_DIR}/fuzz/gguf_corpus ${QB_GGUF_SEEDS})
  set_tests_properties(fuzz_gguf PROPERTIES FIXTURES_REQUIRED gguf_seeds TIMEOUT 300 LABELS fuzz)
endif()

