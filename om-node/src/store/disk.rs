//! Free disk space, checked before the node takes on data that needs room (an incoming snapshot).

use std::io;
use std::path::Path;

use super::io_err;

/// Bytes available to unprivileged users on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> Result<u64, io::Error> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io_err)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}
