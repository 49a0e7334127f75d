//! Dropping root once the capture sockets are open.

use crate::CaptureError;
use nix::unistd::{setgid, setgroups, setuid, User};

/// Become `name` (its uid, its primary gid, no supplementary groups). Sockets opened before
/// stay usable; every capability of root is lost with the uid change, so nothing can open a
/// new capture socket or write where `name` may not.
pub fn drop_to_user(name: &str) -> Result<(), CaptureError> {
    let err = |what: &str| CaptureError::Live(format!("--user {name}: {what}"));
    let user = User::from_name(name)
        .map_err(|e| err(&format!("cannot look the user up: {e}")))?
        .ok_or_else(|| err("no such user"))?;
    setgroups(&[]).map_err(|e| err(&format!("cannot clear supplementary groups: {e}")))?;
    setgid(user.gid).map_err(|e| err(&format!("cannot set the group: {e}")))?;
    setuid(user.uid).map_err(|e| err(&format!("cannot set the user: {e}")))?;
    // setuid from root to another user drops all capabilities; make sure it cannot come back.
    if setuid(nix::unistd::Uid::from_raw(0)).is_ok() && !user.uid.is_root() {
        return Err(err("still able to regain root after dropping it"));
    }
    Ok(())
}
