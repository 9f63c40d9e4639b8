# Fails when a problem code sluisd can emit is not documented in docs/api/openapi.yaml and in
# docs/api/problems.md, or when problems.md lists a code that sluisd cannot emit.
#
# The emitted codes are read from the sources, so a new code cannot be added undocumented:
#   - the transport's table (gateway/server/src/problem.cpp): {"code", status, "title"};
#   - every problem(<request>, <status>, "code" ...) and make_problem(<status>, "code" ...) call
#     in gateway/ (the call may span lines);
#   - the policy module's error names (policy/src/error.cpp, errc_name), which the API answers
#     for consent and break-the-glass refusals (all but "malformed", answered invalid-body).
# A problem code passed as a variable would escape this scan, so such a call fails the check too,
# except the one known indirection: policy_refusal's `code` (an errc_name, covered above).
#   cmake -DROOT=<source dir> -P check_problem_codes.cmake
set(ws "[ \t\r\n]*")
set(emitted "")

file(READ "${ROOT}/gateway/server/src/problem.cpp" transport)
string(REGEX MATCHALL "\\{\"[a-z0-9-]+\",${ws}[0-9][0-9][0-9]," table "${transport}")
if(NOT table)
  message(SEND_ERROR "no transport problem table found in gateway/server/src/problem.cpp")
endif()
foreach(entry ${table})
  string(REGEX REPLACE "^\\{\"([a-z0-9-]+)\".*" "\\1" code "${entry}")
  list(APPEND emitted "${code}")
endforeach()

file(GLOB_RECURSE sources "${ROOT}/gateway/*.cpp" "${ROOT}/gateway/*.hpp")
set(literal_call
    "(problem\\(${ws}[A-Za-z_][A-Za-z0-9_.>-]*(\\(\\))?${ws},|make_problem\\()${ws}[0-9][0-9][0-9]${ws},${ws}\"[a-z0-9-]+\"")
set(variable_call
    "(problem\\(${ws}[A-Za-z_][A-Za-z0-9_.>-]*(\\(\\))?${ws},|make_problem\\()${ws}[A-Za-z0-9_]+${ws},${ws}[A-Za-z_][A-Za-z0-9_:.()]*${ws},")
foreach(f ${sources})
  file(READ "${f}" text)
  string(REGEX MATCHALL "${literal_call}" calls "${text}")
  foreach(call ${calls})
    string(REGEX REPLACE ".*\"([a-z0-9-]+)\"$" "\\1" code "${call}")
    list(APPEND emitted "${code}")
  endforeach()
  string(REGEX MATCHALL "${variable_call}" indirect "${text}")
  foreach(call ${indirect})
    string(REGEX REPLACE "[ \t\r\n]+" " " call "${call}")
    if(call MATCHES "^problem\\(call.req, 422, code,$" AND f MATCHES "gateway/api/src/call.cpp$")
      continue()  # policy_refusal: policy::errc_name codes, read below
    endif()
    if(call STREQUAL "make_problem(status, code," AND f MATCHES "gateway/api/src/call.cpp$")
      continue()  # the API's problem() helper, whose callers are scanned above
    endif()
    message(SEND_ERROR "${f}: '${call}' — a problem code that is not a string literal cannot be "
                       "checked against the documentation; write the code as a literal")
  endforeach()
endforeach()

file(READ "${ROOT}/policy/src/error.cpp" policy_errors)
string(REGEX MATCH "errc_name\\(Errc e\\)[^}]*" names "${policy_errors}")
string(REGEX MATCHALL "return \"[a-z0-9-]+\"" returns "${names}")
if(NOT returns)
  message(SEND_ERROR "no errc_name table found in policy/src/error.cpp")
endif()
foreach(r ${returns})
  string(REGEX REPLACE "return \"([a-z0-9-]+)\"" "\\1" code "${r}")
  if(NOT code STREQUAL "malformed")  # answered invalid-body
    list(APPEND emitted "${code}")
  endif()
endforeach()

list(REMOVE_DUPLICATES emitted)
list(SORT emitted)
list(LENGTH emitted n)
if(n LESS 40)
  message(SEND_ERROR "only ${n} problem codes found in the sources; the scan is broken")
endif()

file(READ "${ROOT}/docs/api/openapi.yaml" openapi)
file(READ "${ROOT}/docs/api/problems.md" problems)
foreach(code ${emitted})
  if(NOT openapi MATCHES "(^|[^a-z0-9-])${code}([^a-z0-9-]|$)")
    message(SEND_ERROR "problem code '${code}' is emitted but not documented in "
                       "docs/api/openapi.yaml (components/schemas/Problem/code)")
  endif()
  if(NOT problems MATCHES "`${code}`")
    message(SEND_ERROR "problem code '${code}' is emitted but not documented in "
                       "docs/api/problems.md")
  endif()
endforeach()

# The tables of problems.md (rows "| `code` | status | ...") list only codes sluisd emits.
string(REGEX MATCHALL "\n\\| `[a-z0-9-]+` \\|" rows "${problems}")
foreach(row ${rows})
  string(REGEX REPLACE "\n\\| `([a-z0-9-]+)` \\|" "\\1" code "${row}")
  list(FIND emitted "${code}" at)
  if(at EQUAL -1)
    message(SEND_ERROR "docs/api/problems.md lists '${code}', which no source emits")
  endif()
endforeach()
message(STATUS "${n} problem codes found in the sources: ${emitted}")
