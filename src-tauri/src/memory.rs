//! Giving back what a tray-only Chime holds but does not use (Linux).
//!
//! The windows live in their own process (see [`crate::host`]), so the
//! tray process never runs WebKit; but it links it, and loading WebKit,
//! GTK and the rest maps their files and reads their symbol and
//! relocation tables once, at start. Those pages stay mapped, and counted
//! as ours, long after. So, once start-up has settled and again after the
//! windows went:
//! * the clean pages of mapped files that only Chime maps are paged out
//!   (`MADV_PAGEOUT`: nothing changes for the program — a page it touches
//!   again is read back — and pages another process shares, GTK's with the
//!   panel, are left alone);
//! * freed heap goes back to the system (`malloc_trim`).
//!
//! Architecture Invariant: nothing here changes what the program computes;
//! it only returns memory. Every step is best effort and never fatal.

use std::time::Duration;

use tracing::{debug, info};

/// After start: the links are up and the tray drawn.
pub const AFTER_START: Duration = Duration::from_secs(15);
/// After the window host ended, unless a window opens again meanwhile.
pub const AFTER_LAST_WINDOW: Duration = Duration::from_secs(5);

/// The address ranges of file mappings in a `/proc/PID/maps` text: what
/// can be paged out and read back (not the kernel's `[vdso]`, `[vvar]`,
/// nor anonymous memory, which has no file to come back from).
pub fn file_mappings(maps: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let _offset = fields.next()?;
            let _dev = fields.next()?;
            let inode: u64 = fields.next()?.parse().ok()?;
            let path = fields.next().unwrap_or("");
            // Private mappings only: a shared one's pages belong to others.
            if inode == 0 || !path.starts_with('/') || !perms.ends_with('p') {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let a = usize::from_str_radix(a, 16).ok()?;
            let b = usize::from_str_radix(b, 16).ok()?;
            (a < b).then_some((a, b))
        })
        .collect()
}

/// After `delay`, if `still()` holds then, [`trim`] off the async
/// threads; `why` goes to the log.
pub fn trim_after(
    delay: Duration,
    why: &'static str,
    still: impl FnOnce() -> bool + Send + 'static,
) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(delay).await;
        if still() {
            let advised = tauri::async_runtime::spawn_blocking(trim)
                .await
                .unwrap_or(0);
            info!(advised, "{why}: returned unused memory");
        }
    });
}

/// Page out this process's file pages and trim the heap; returns how many
/// mappings were advised.
pub fn trim() -> usize {
    let advised = page_out_files();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
    advised
}

#[cfg(target_os = "linux")]
fn page_out_files() -> usize {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return 0;
    };
    let mut advised = 0;
    for (a, b) in file_mappings(&maps) {
        // SAFETY: MADV_PAGEOUT never changes the contents of memory: a
        // private page that was written is kept (or swapped), a clean one
        // is read back from its file when touched. The range is one of
        // our own mappings, page aligned as the kernel reports them.
        let r = unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_PAGEOUT) };
        if r == 0 {
            advised += 1;
        } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // A kernel before 5.4 has no MADV_PAGEOUT: nothing to do.
            debug!("this kernel cannot page out on request");
            break;
        }
    }
    advised
}

#[cfg(not(target_os = "linux"))]
fn page_out_files() -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_mappings_are_paged_out() {
        let maps = "\
559a844e4000-559a8489e000 r--p 00000000 fd:01 1234   /usr/bin/chime
559a8489e000-559a85329000 r-xp 003ba000 fd:01 1234   /usr/bin/chime
559a8538f000-559a85397000 rw-p 00eab000 fd:01 1234   /usr/bin/chime
559a86000000-559a86400000 rw-p 00000000 00:00 0      [heap]
7f0000000000-7f0000100000 rw-p 00000000 00:00 0
7f0000100000-7f0000200000 r--p 00000000 fd:01 99     /usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0 (deleted)
7ffd00000000-7ffd00002000 r--p 00000000 00:00 0      [vvar]
7ffd00002000-7ffd00004000 r-xp 00000000 00:00 0      [vdso]
7f0000300000-7f0000400000 rw-s 00000000 00:01 5      /SYSV00000000 (deleted)
garbage line
7f0000500000-7f0000400000 r--p 00000000 fd:01 7      /backwards
";
        assert_eq!(
            file_mappings(maps),
            vec![
                (0x559a844e4000, 0x559a8489e000),
                (0x559a8489e000, 0x559a85329000),
                (0x559a8538f000, 0x559a85397000),
                (0x7f0000100000, 0x7f0000200000),
            ]
        );
    }

    #[test]
    fn trimming_this_very_process_keeps_its_code_and_data_working() {
        let table: Vec<u64> = (0..100_000).map(|i| i * 3).collect();
        let before: u64 = table.iter().sum();
        assert!(trim() > 0, "a process maps at least its own binary");
        // Everything reads back the same after its pages went.
        assert_eq!(table.iter().sum::<u64>(), before);
        assert_eq!(file_mappings("").len(), 0);
    }
}
