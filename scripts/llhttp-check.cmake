# Refuses to configure without llhttp >= 9.3 release sources in DIR: older parsers (Debian's
# node-llhttp is 8.1) take a bare CR as a line end, which lets a hidden second request through.
function(catzilla_check_llhttp DIR)
  if(NOT DIR OR NOT EXISTS "${DIR}/llhttp.c" OR NOT EXISTS "${DIR}/llhttp.h")
    message(FATAL_ERROR "llhttp sources not found in '${DIR}': build with `node scripts/build.mjs`, which fetches "
                        "llhttp 9.3 (scripts/llhttp.mjs), or pass -DLLHTTP_DIR=<dir with llhttp.c, api.c, http.c, llhttp.h>")
  endif()
  file(STRINGS "${DIR}/llhttp.h" lines REGEX "#define LLHTTP_VERSION_(MAJOR|MINOR) ")
  string(REGEX MATCH "MAJOR ([0-9]+)" _ "${lines}")
  set(major "${CMAKE_MATCH_1}")
  string(REGEX MATCH "MINOR ([0-9]+)" _ "${lines}")
  set(minor "${CMAKE_MATCH_1}")
  if("${major}.${minor}" VERSION_LESS 9.3)
    message(FATAL_ERROR "llhttp in ${DIR} is ${major}.${minor}; catzilla needs 9.3 or newer")
  endif()
endfunction()
