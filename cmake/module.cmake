# vpn_module(<name> [DEPS targets...] [DEFS defs...])
# A module is the static library of one source folder: every *.c there. It
# adds itself to vpn_all so tests link everything without listing modules.
function(vpn_module name)
  cmake_parse_arguments(M "" "" "DEPS;DEFS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  list(FILTER srcs EXCLUDE REGEX ".*/main\\.c$")
  if(NOT srcs)
    return()
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  foreach(dep IN LISTS M_DEPS)
    if(dep MATCHES "^vpn_")
      # A module folder without sources yet (on a branch where another
      # developer's module has only its header) makes no library: link it
      # once it exists instead of failing with -l<name>.
      target_link_libraries(${name} PUBLIC $<TARGET_NAME_IF_EXISTS:${dep}>)
    else()
      target_link_libraries(${name} PUBLIC ${dep})
    endif()
  endforeach()
  if(M_DEFS)
    target_compile_definitions(${name} PRIVATE ${M_DEFS})
  endif()
  target_link_libraries(vpn_all INTERFACE ${name})
endfunction()
