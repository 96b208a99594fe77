# Compile options shared by every gnomon target, carried on an INTERFACE target.
add_library(gnomon_options INTERFACE)
add_library(gnomon::options ALIAS gnomon_options)
target_compile_options(gnomon_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wdouble-promotion
  -Wformat=2 -Wimplicit-fallthrough)
if(GNOMON_WERROR)
  target_compile_options(gnomon_options INTERFACE -Werror)
endif()
target_compile_definitions(gnomon_options INTERFACE GNOMON_VERSION="${PROJECT_VERSION}")
if(GNOMON_SANITIZE)
  target_compile_options(gnomon_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(gnomon_options INTERFACE -fsanitize=address,undefined)
endif()
