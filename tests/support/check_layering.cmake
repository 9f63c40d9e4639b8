# Fails when crypto/ or policy/ include a header that belongs to the gateway layer, or when
# console/ reaches past the server transport into the gateway (see the end of this file).
foreach(module crypto policy)
  file(GLOB_RECURSE files "${ROOT}/${module}/*.hpp" "${ROOT}/${module}/*.cpp")
  foreach(f ${files})
    file(STRINGS "${f}" lines REGEX "#include")
    foreach(line ${lines})
      if(line MATCHES "boost/asio|boost/beast|sqlite3|sqlcipher|sluis/gateway")
        message(SEND_ERROR "${f}: '${line}' — ${module}/ must not depend on Asio, Beast, SQL or the gateway")
      endif()
      if(module STREQUAL "crypto" AND line MATCHES "sluis/policy|toml")
        message(SEND_ERROR "${f}: '${line}' — crypto/ must not depend on policy or TOML")
      endif()
    endforeach()
  endforeach()
endforeach()

# crypto's detail namespace is its own: other modules use the public verbs (wipe, random_bytes,
# SecretBytes::wipe) so that every use of raw memory primitives stays inside crypto/.
foreach(module gateway tools tests console)
  file(GLOB_RECURSE files "${ROOT}/${module}/*.hpp" "${ROOT}/${module}/*.cpp")
  foreach(f ${files})
    file(STRINGS "${f}" lines REGEX "crypto::detail::")
    foreach(line ${lines})
      message(SEND_ERROR "${f}: '${line}' — outside crypto/, use crypto's public verbs, not crypto::detail")
    endforeach()
  endforeach()
endforeach()

# console/ (STYLE.md "Layout"): a client of the /v1 API. It may use crypto and the server
# transport (the headers under gateway/server/include/sluis/gateway/), never the gateway's store,
# registry, dossiers, consent book or audit log, nor SQL, in its sources or its link edges.
# One exception: the console's own store (accounts, passkeys, invitations, sessions) is a
# SQLCipher file of its own, so console/src/console_store.cpp alone may include sqlite3.h, and
# console/CMakeLists.txt may link PkgConfig::SQLCIPHER (and nothing else SQL).
file(GLOB server_headers RELATIVE "${ROOT}/gateway/server/include" "${ROOT}/gateway/server/include/sluis/gateway/*.hpp")
file(GLOB_RECURSE console_files "${ROOT}/console/*.hpp" "${ROOT}/console/*.cpp")
foreach(f ${console_files})
  file(STRINGS "${f}" lines REGEX "#include")
  foreach(line ${lines})
    if(line MATCHES "sqlite3|sqlcipher" AND NOT f MATCHES "/console/src/console_store\\.cpp$")
      message(SEND_ERROR "${f}: '${line}' — only console/src/console_store.cpp may use SQL in console/")
    endif()
    if(line MATCHES "sluis/gateway/(api|operator)")
      message(SEND_ERROR "${f}: '${line}' — console/ must not depend on SQL or the gateway's API and operator layers")
    endif()
    if(line MATCHES "[<\"](sluis/gateway/[^>\"]+)[>\"]")
      list(FIND server_headers "${CMAKE_MATCH_1}" allowed)
      if(allowed EQUAL -1)
        message(SEND_ERROR "${f}: '${line}' — console/ may include only the server transport's headers from sluis/gateway/")
      endif()
    endif()
  endforeach()
endforeach()
file(GLOB_RECURSE console_cmake "${ROOT}/console/CMakeLists.txt" "${ROOT}/console/*.cmake")
foreach(f ${console_cmake})
  file(READ "${f}" text)
  string(REPLACE "PkgConfig::SQLCIPHER" "" text "${text}")  # the console's own store (above)
  if(text MATCHES "sluis::gateway|sluis_gateway[^_]|sluis::api|sluis_api|sluis::operator|sluis_operator|SQLCIPHER|sqlite")
    message(SEND_ERROR "${f}: console/ must not link the gateway's store, API or operator libraries, nor SQL")
  endif()
endforeach()
