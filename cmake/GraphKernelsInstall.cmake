# Install and export rules (included from the top-level CMakeLists.txt after the targets exist).
#
#   cmake --install <build> --prefix <prefix> lays out
#     include/graphkernels.h
#     lib/libgraphkernels_emulated.so -> .so.<soversion> -> .so.<version>   (always)
#     lib/libgraphkernels.so ...                                             (when nvcc built it)
#     lib/cmake/GraphKernels/GraphKernelsConfig.cmake, ...ConfigVersion.cmake, ...Targets*.cmake
#       imported targets GraphKernels::emulated and GraphKernels::graphkernels
#     lib/pkgconfig/graphkernels-emulated.pc (and graphkernels.pc with the CUDA library)
# SONAME: lib<name>.so.<major>.<minor> while the major version is 0 (the ABI may change between
# 0.x minors), lib<name>.so.<major> from 1.0 on. Only gk_* symbols are exported (visibility hidden
# plus the version script cmake/graphkernels.map, which also hides a statically linked cudart).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(GK_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(GK_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

set(GK_INSTALL_TARGETS graphkernels_emulated)
if(GK_CUDA_BUILT)
  list(APPEND GK_INSTALL_TARGETS graphkernels)
endif()

foreach(tgt ${GK_INSTALL_TARGETS})
  set_target_properties(${tgt} PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${GK_SOVERSION})
  target_include_directories(${tgt} INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  # The version script is skipped under sanitizers (their runtimes interpose symbols).
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND GK_SANITIZE STREQUAL "")
    target_link_options(${tgt} PRIVATE "LINKER:--version-script=${CMAKE_CURRENT_SOURCE_DIR}/cmake/graphkernels.map")
    set_property(TARGET ${tgt} APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/graphkernels.map)
  endif()
endforeach()
set_target_properties(graphkernels_emulated PROPERTIES EXPORT_NAME emulated)
if(GK_CUDA_BUILT)
  set_target_properties(graphkernels PROPERTIES EXPORT_NAME graphkernels)
endif()

install(TARGETS ${GK_INSTALL_TARGETS} EXPORT GraphKernelsTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/native/include/graphkernels.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(GK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/GraphKernels)
install(EXPORT GraphKernelsTargets NAMESPACE GraphKernels:: DESTINATION ${GK_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/GraphKernelsConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/GraphKernelsConfig.cmake
  INSTALL_DESTINATION ${GK_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
# 0.x: only the same minor version is compatible (the SONAME changes with it).
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(GK_COMPAT SameMinorVersion)
else()
  set(GK_COMPAT SameMajorVersion)
endif()
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/GraphKernelsConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${GK_COMPAT})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/GraphKernelsConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/GraphKernelsConfigVersion.cmake
  DESTINATION ${GK_CMAKE_DIR})

# pkg-config, relocatable: the prefix is found relative to the .pc file (${pcfiledir}).
file(RELATIVE_PATH GK_PC_REL "/gk/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/gk")
set(GK_PC_NAME graphkernels-emulated)
set(GK_PC_DESCRIPTION "GraphKernels C ABI, CPU emulation of the CUDA kernels")
set(GK_PC_LIB graphkernels_emulated)
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/graphkernels.pc.in
  ${CMAKE_CURRENT_BINARY_DIR}/graphkernels-emulated.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/graphkernels-emulated.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(GK_CUDA_BUILT)
  set(GK_PC_NAME graphkernels)
  set(GK_PC_DESCRIPTION "GraphKernels C ABI, CUDA kernels (fatbin sm_80-sm_90)")
  set(GK_PC_LIB graphkernels)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/graphkernels.pc.in
    ${CMAKE_CURRENT_BINARY_DIR}/graphkernels.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/graphkernels.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
