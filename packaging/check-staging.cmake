# CPack pre-build check: the staged tree must hold everything the package
# promises. A package without vpnd would install a unit that starts nothing,
# so it is refused here with a message that says what is missing.
set(root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
if(NOT root OR NOT IS_DIRECTORY "${root}")
  message(FATAL_ERROR "vpnctl packaging: CPack gave no staging directory to check")
endif()
set(missing)
foreach(f usr/sbin/vpnd usr/bin/vpnctl usr/lib/systemd/system/vpnd.service
          usr/lib/sysusers.d/vpnctl.conf
          usr/share/man/man8/vpnctl.8.gz usr/share/man/man8/vpnd.8.gz
          usr/share/man/man5/vpnctl-profile.5.gz
          usr/share/bash-completion/completions/vpnctl
          usr/share/doc/vpnctl/examples/example.conf etc/vpnctl/profiles)
  if(NOT EXISTS "${root}/${f}")
    list(APPEND missing "/${f}")
  endif()
endforeach()
if(missing)
  list(JOIN missing ", " missing)
  message(FATAL_ERROR "vpnctl packaging: the package would lack ${missing}. "
          "vpnd comes from the `vpnd` executable target (client/daemon), which "
          "this tree must define; everything else from packaging/CMakeLists.txt.")
endif()
