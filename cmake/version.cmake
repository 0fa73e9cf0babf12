# Writes ${OUT} with quantbench's build identity. Run at every build (not only at configure)
# so --version names the commit actually built; configure_file leaves the file untouched
# when nothing changed, so an unchanged tree does not recompile or relink.
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE QB_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR QB_GIT_COMMIT STREQUAL "")
  set(QB_GIT_COMMIT "unknown")
else()
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT dirty STREQUAL "")
    set(QB_GIT_COMMIT "${QB_GIT_COMMIT}-dirty")
  endif()
endif()
configure_file("${SRC}/cmake/version.c.in" "${OUT}" @ONLY)
