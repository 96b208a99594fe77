// toml++ as gnomon includes it (header-only, from libtomlplusplus-dev).
//
// Its internal consistency checks are off in every build type, as in Debian's
// compiled library, and are never turned into optimiser assumptions: some
// malformed files reach states those checks reject (test_config_toml's
// arbitrary-bytes case finds them), and there they must stay plain parse
// errors, not an abort in a debug build or undefined behaviour under clang's
// __builtin_assume.
#pragma once

#define TOML_ASSERT(expr) static_assert(true)
#ifdef NDEBUG
#define GNOMON_TOML_NDEBUG_WAS_SET
#undef NDEBUG
#endif
#include <toml++/toml.h>
#ifdef GNOMON_TOML_NDEBUG_WAS_SET
#define NDEBUG
#undef GNOMON_TOML_NDEBUG_WAS_SET
#endif
