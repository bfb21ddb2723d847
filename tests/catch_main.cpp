// The one translation unit that compiles Catch2's runner (it is slow to compile; every other test file
// includes only the declarations).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
