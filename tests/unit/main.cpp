#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

// Under AddressSanitizer the binary also runs without ASAN_OPTIONS (CTest's
// test discovery lists the tests at build time), so its defaults live here.
// detect_odr_violation=0: the binary links dlc_codegen both statically and
// through libdlc.so (the same definitions twice); linking it once is the real fix.
extern "C" const char *__asan_default_options() { return "detect_odr_violation=0"; }
