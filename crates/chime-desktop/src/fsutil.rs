//! Files that are replaced whole: settings, secrets.

use std::io::Write;
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

/// Numbers [`write_atomic`]'s temp files: a name of its own for every
/// write, so two writers (two saves at once) never share, let alone
/// unlink, each other's temp file.
static TEMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Replace `path` with `bytes` so that a reader (or a crash) sees the old
/// file or the new one, never a mix; `mode` applies from creation (Unix).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut options = std::fs::OpenOptions::new();
    // A fresh file, never one found in place: `create_new` (O_EXCL) refuses
    // a planted file or symlink at the temp name; the next name is tried.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut attempt = 0;
    let (tmp, mut f) = loop {
        let n = TEMP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match options.open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_atomic_writes_each_land_whole_and_none_fails() {
        let dir = std::env::temp_dir().join(format!("chime-atomic-many-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("settings.json");
        let contents: Vec<Vec<u8>> = (0..8u8)
            .map(|t| vec![b'a' + t; 1 + 4096 * t as usize])
            .collect();
        let contents = &contents;
        std::thread::scope(|scope| {
            for body in contents {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..40 {
                        write_atomic(path, body, 0o600).expect("a concurrent write failed");
                        let now = std::fs::read(path).expect("read");
                        assert!(contents.contains(&now), "a mixed or partial file");
                    }
                });
            }
        });
        let left = |dir: &Path| -> Vec<String> {
            std::fs::read_dir(dir)
                .expect("dir")
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        };
        assert!(left(&dir).is_empty(), "temp files left: {:?}", left(&dir));
        // Symlinks planted at the next temp names (to a file the writer
        // must not touch) are skipped, never followed nor removed.
        #[cfg(unix)]
        {
            let victim = dir.join("victim");
            std::fs::write(&victim, b"keep").expect("victim");
            let next = TEMP_SEQ.load(std::sync::atomic::Ordering::Relaxed);
            let planted: Vec<PathBuf> = (next..next + 20)
                .map(|n| dir.join(format!(".settings.json.{}.{n}.tmp", std::process::id())))
                .collect();
            for p in &planted {
                std::os::unix::fs::symlink(&victim, p).expect("plant");
            }
            write_atomic(&path, b"last", 0o600).expect("write");
            assert_eq!(std::fs::read(&path).expect("read"), b"last");
            assert_eq!(std::fs::read(&victim).expect("victim"), b"keep");
            assert!(planted.iter().all(|p| p.symlink_metadata().is_ok()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_temp_file_of_an_atomic_write_is_never_one_planted_in_place() {
        let dir = std::env::temp_dir().join(format!("chime-atomic-planted-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep").expect("victim");
        let target = dir.join("secrets.json");
        let tmp = dir.join(format!(".secrets.json.{}.tmp", std::process::id()));
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, &tmp).expect("symlink");
        write_atomic(&target, b"{}", 0o600).expect("write");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "{}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
