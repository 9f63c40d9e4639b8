# Compiler flags shared by every sluis target: warnings, sanitizers, hardening.
#   sluis_codegen — sanitizers and hardening; also applied to third-party code compiled here.
#   sluis_options — sluis_codegen plus our warning set (errors with SLUIS_WERROR).
add_library(sluis_codegen INTERFACE)
# Hardening: stack protector, fortify (needs optimisation), PIE, full RELRO.
target_compile_options(sluis_codegen INTERFACE -fstack-protector-strong -fPIE)
target_link_options(sluis_codegen INTERFACE -pie -Wl,-z,relro,-z,now)
if(NOT SLUIS_SANITIZE AND NOT SLUIS_FUZZ AND NOT SLUIS_TSAN)
  target_compile_definitions(sluis_codegen INTERFACE
    $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
endif()
if(SLUIS_SANITIZE)
  target_compile_options(sluis_codegen INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(sluis_codegen INTERFACE -fsanitize=address,undefined)
endif()
if(SLUIS_TSAN)
  target_compile_options(sluis_codegen INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(sluis_codegen INTERFACE -fsanitize=thread)
  # g++ 12 warns that the thread sanitizer does not model std::atomic_thread_fence, which Asio's
  # fenced blocks use. The transport is compiled in this build only because the daemon's
  # configuration (linked by the store and audit tests) names its ServerConfig; its own tests stay
  # out of the tsan run (OpenSSL and Asio are not instrumented), so the warning is no error here.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(sluis_codegen INTERFACE -Wno-tsan)
  endif()
endif()
if(SLUIS_FUZZ)
  target_compile_options(sluis_codegen INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  target_link_options(sluis_codegen INTERFACE -fsanitize=address,undefined)
endif()

add_library(sluis_options INTERFACE)
target_link_libraries(sluis_options INTERFACE sluis_codegen)
target_compile_options(sluis_options INTERFACE
  -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wold-style-cast
  -Wcast-align -Wdouble-promotion -Wformat=2)
# Not -Wnull-dereference: g++ 12 raises it inside libstdc++ containers at -O2 and above (false
# positives in std::vector growth paths), which would make -Werror release builds fail on noise.
# Not -Wrestrict on g++ 12 either: it misfires on std::string concatenation at -O2/-O3 (GCC bug
# 105651, fixed in g++ 13).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(sluis_options INTERFACE -Wno-restrict)
endif()
# Under -fsanitize, g++ 12's -Wmaybe-uninitialized reports uninitialised reads inside
# std::optional<std::string> and <regex> that cannot happen (the instrumentation confuses its flow
# analysis). Release builds keep the warning; the sanitizers themselves check real memory use.
if((SLUIS_SANITIZE OR SLUIS_TSAN) AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(sluis_options INTERFACE -Wno-maybe-uninitialized)
endif()
if(SLUIS_WERROR)
  target_compile_options(sluis_options INTERFACE -Werror)
endif()
