# Install-time step (cmake --install, and CPack's staging install): write
# vpnd.service from its template with the path of the vpnd installed next
# to it, then install it where systemd looks for the prefix's units. Run
# here rather than at configure time because CPack installs with its own
# prefix (/usr), not the build's CMAKE_INSTALL_PREFIX.
# In: VPN_UNIT_TEMPLATE, VPN_UNIT_OUT, VPN_SBINDIR (set by install(CODE)).
if(IS_ABSOLUTE "${VPN_SBINDIR}")
  set(VPND "${VPN_SBINDIR}/vpnd")
else()
  set(VPND "${CMAKE_INSTALL_PREFIX}/${VPN_SBINDIR}/vpnd")
endif()
file(READ "${VPN_UNIT_TEMPLATE}" unit)
file(CONFIGURE OUTPUT "${VPN_UNIT_OUT}" CONTENT "${unit}" @ONLY)
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${VPN_UNIT_OUT}")
