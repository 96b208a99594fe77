# GNOMON_FUZZ=ON: every gnomon target is built with libFuzzer's coverage
# instrumentation plus ASan and UBSan (clang only), and fuzz/ adds one
# libFuzzer executable per target. The normal build stays g++ and untouched.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "GNOMON_FUZZ needs clang (CXX=clang++); scripts/fuzz.sh sets it up")
endif()
target_compile_options(gnomon_options INTERFACE
  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  # Warnings stay on but are not errors: clang warns about other things than g++.
  -Wno-error)
target_link_options(gnomon_options INTERFACE -fsanitize=address,undefined)
