/* The state journal: what this daemon changed in the system.
 *
 * ARCHITECTURE.md: "Every resource the daemon changes in the system (TUN,
 * address, route, DNS, nftables) is recorded in the state directory before
 * it is changed, so a clean-up after a crash can undo exactly that and
 * nothing else."
 *
 * Each struct plat (platform/plat.h) owns one journal file,
 * `<state_dir>/<name>.journal`: one JSON object per line, appended and
 * fsync'ed before the change it describes; a later line marks a record
 * undone. A torn last line (crash mid-write) is skipped. Records of kernel
 * state (links, addresses, routes, rules) carry the boot id: after a reboot
 * the kernel has forgotten them already and they are dropped, not undone.
 * File changes (resolv.conf) survive reboots and are always undone. Kinds
 * this version does not know (a later nftables record, say) are kept and
 * reported, never guessed at.
 *
 * A journal is locked (flock) by the process that has it open, so a
 * clean-up never undoes what a running daemon still uses.
 *
 * Put the state directory where it survives a reboot (/var/lib/..., not
 * /run) when resolv.conf does: after a crash and a reboot the saved
 * original must still be there to put back.
 */
#ifndef VPN_PLATFORM_STATE_H
#define VPN_PLATFORM_STATE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Undo, newest first, everything recorded in every journal under
 * state_dir, tolerating changes that are already gone, and leave the
 * journals empty. Runs at daemon start and from the clean-up command.
 * Returns 0 (also when state_dir does not exist), -EBUSY when a journal
 * belongs to a running process (the others are still cleaned), or the
 * first other error. */
int plat_state_cleanup(const char *state_dir);

/* Number of records not yet undone under state_dir (0 when none or no
 * directory), or -errno. */
int plat_state_pending(const char *state_dir);

#ifdef __cplusplus
}
#endif
#endif
