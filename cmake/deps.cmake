# Third-party dependencies, found the proper way. Debian packages are listed in
# scripts/setup.sh; keep the two in step.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV    REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(LIBNL    REQUIRED IMPORTED_TARGET libnl-3.0 libnl-route-3.0)
pkg_check_modules(INIH     REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(JANSSON  REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(SYSTEMD  REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(NFTABLES REQUIRED IMPORTED_TARGET libnftables)

# BoringSSL as Debian ships it (android-libboringssl-dev): no pkg-config file,
# headers under /usr/include/android, libraries in a private directory. The
# binaries carry that directory as RUNPATH so they run without LD_LIBRARY_PATH.
set(BORINGSSL_LIBDIR "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/android"
    CACHE PATH "Directory holding BoringSSL's libcrypto.so")
if(NOT CMAKE_LIBRARY_ARCHITECTURE)
  set(BORINGSSL_LIBDIR "/usr/lib/x86_64-linux-gnu/android" CACHE PATH "" FORCE)
endif()
find_path(BORINGSSL_INCLUDE_DIR openssl/is_boringssl.h
          PATHS /usr/include/android NO_DEFAULT_PATH REQUIRED)
find_library(BORINGSSL_CRYPTO NAMES crypto
             PATHS ${BORINGSSL_LIBDIR} NO_DEFAULT_PATH REQUIRED)
add_library(boringssl::crypto SHARED IMPORTED)
set_target_properties(boringssl::crypto PROPERTIES
  IMPORTED_LOCATION "${BORINGSSL_CRYPTO}"
  IMPORTED_NO_SONAME FALSE
  INTERFACE_INCLUDE_DIRECTORIES "${BORINGSSL_INCLUDE_DIR}")
set(CMAKE_BUILD_RPATH   "${BORINGSSL_LIBDIR}")
set(CMAKE_INSTALL_RPATH "${BORINGSSL_LIBDIR}")

find_package(Threads REQUIRED)
if(VPN_TESTS)
  find_package(GTest REQUIRED)
endif()
