//! The XDG autostart entry that starts Chime at login: what it says, with
//! the program's path quoted as the Desktop Entry Specification asks.
//! Pure: the shell decides where the file goes and writes it.
//!
//! Architecture Invariant: this module builds text; it never looks at the
//! file system or the running process.

use std::path::{Path, PathBuf};

/// The file name of the entry in `$XDG_CONFIG_HOME/autostart/` (the name
/// earlier versions used, so an existing entry is replaced, not doubled).
pub const FILE_NAME: &str = "Chime.desktop";

/// The arguments the entry starts Chime with.
pub const ARGS: &[&str] = &["--hidden"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AutostartError {
    #[error("the program path is not valid UTF-8")]
    NotUtf8,
    #[error("the program path has a control character")]
    ControlCharacter,
    #[error("the program path is not absolute")]
    NotAbsolute,
}

/// The path to start: the running program's, without the " (deleted)"
/// that Linux appends once the file was replaced (a package upgrade while
/// Chime runs), which would otherwise end up in the entry.
pub fn program_path(current_exe: &Path) -> PathBuf {
    match current_exe.to_str() {
        Some(s) => PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(s)),
        None => current_exe.to_path_buf(),
    }
}

/// One argument of an `Exec` key, as the Desktop Entry Specification
/// reads it: left bare when it has no reserved character, else in double
/// quotes with `"`, `` ` ``, `$` and `\` escaped; `%` doubled (a field
/// code otherwise). The result is then escaped as a string value (`\` →
/// `\\`), since the key is unescaped before it is split into arguments.
pub fn exec_arg(arg: &str) -> Result<String, AutostartError> {
    if arg.chars().any(char::is_control) {
        return Err(AutostartError::ControlCharacter);
    }
    const RESERVED: &[char] = &[
        ' ', '\t', '"', '\'', '\\', '>', '<', '~', '|', '&', ';', '$', '*', '?', '#', '(', ')',
        '`', '=', '[', ']', '{', '}',
    ];
    let arg = arg.replace('%', "%%");
    let quoted = if arg.is_empty() || arg.contains(RESERVED) {
        let mut q = String::with_capacity(arg.len() + 2);
        q.push('"');
        for c in arg.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        arg
    };
    Ok(quoted.replace('\\', "\\\\"))
}

/// The whole entry for `program` started with [`ARGS`].
pub fn entry(program: &Path) -> Result<String, AutostartError> {
    if !program.is_absolute() {
        return Err(AutostartError::NotAbsolute);
    }
    let path = program.to_str().ok_or(AutostartError::NotUtf8)?;
    let mut exec = exec_arg(path)?;
    for a in ARGS {
        exec.push(' ');
        exec.push_str(&exec_arg(a)?);
    }
    Ok(format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Version=1.0\n\
         Name=Chime\n\
         Comment=Chime in the tray at login\n\
         Icon=chime\n\
         Exec={exec}\n\
         StartupNotify=false\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n"
    ))
}

/// The arguments an entry's `Exec` key starts, read as a desktop does
/// (string unescape, then quotes, escapes and `%%`); `None` when it has no
/// `Exec` key, a field code, or quotes that do not close.
pub fn exec_args(entry: &str) -> Option<Vec<String>> {
    let value = entry.lines().find_map(|l| l.strip_prefix("Exec="))?;
    let mut unescaped = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                's' => unescaped.push(' '),
                'n' => unescaped.push('\n'),
                't' => unescaped.push('\t'),
                'r' => unescaped.push('\r'),
                c => unescaped.push(c),
            }
        } else {
            unescaped.push(c);
        }
    }
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut chars = unescaped.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            '"' => {
                in_arg = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        c => cur.push(c),
                    }
                }
            }
            '%' => {
                in_arg = true;
                match chars.next()? {
                    '%' => cur.push('%'),
                    _ => return None,
                }
            }
            c => {
                in_arg = true;
                cur.push(c);
            }
        }
    }
    if in_arg {
        args.push(cur);
    }
    Some(args)
}

/// Whether an existing entry already starts an existing program with
/// [`ARGS`] and nothing else: then it stays as it is (another build of
/// Chime running does not take it over). Otherwise — missing program, an
/// unquoted path cut at its space, a " (deleted)" argument, other
/// arguments — it is written anew for the running program.
pub fn is_current(entry: &str, exists: impl Fn(&Path) -> bool) -> bool {
    match exec_args(entry) {
        Some(args) => match args.split_first() {
            Some((program, rest)) => {
                let program = Path::new(program);
                program.is_absolute() && exists(program) && rest == ARGS
            }
            None => false,
        },
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec_of(entry: &str) -> &str {
        entry
            .lines()
            .find_map(|l| l.strip_prefix("Exec="))
            .expect("an Exec line")
    }

    #[test]
    fn the_installed_program_is_started_bare_with_hidden() {
        let e = entry(Path::new("/usr/bin/chime")).expect("entry");
        assert_eq!(exec_of(&e), "/usr/bin/chime --hidden");
        assert!(e.starts_with("[Desktop Entry]\nType=Application\n"), "{e}");
    }

    #[test]
    fn paths_with_reserved_characters_come_back_as_one_argument() {
        for path in [
            "/home/me/My Apps/chime",
            "/opt/it's/chime",
            "/opt/a\"b/chime",
            "/opt/$HOME/`x`/chime",
            "/opt/back\\slash/chime",
            "/opt/100%/chime",
            "/opt/%u/chime",
            "/opt/semi;colon&(x)|y/chime",
            "/opt/ünïcode/chime",
        ] {
            let e = entry(Path::new(path)).expect(path);
            let exec = exec_of(&e);
            assert_eq!(
                exec_args(&e).expect("parses"),
                [path, "--hidden"],
                "{path} → {exec}"
            );
            assert!(!exec.contains('\n'));
        }
    }

    #[test]
    fn a_control_character_or_a_relative_path_makes_no_entry() {
        assert_eq!(
            entry(Path::new("/opt/a\nExec=evil/chime")),
            Err(AutostartError::ControlCharacter)
        );
        assert_eq!(entry(Path::new("chime")), Err(AutostartError::NotAbsolute));
    }

    #[test]
    fn a_replaced_program_is_started_by_its_path_not_its_deleted_inode() {
        assert_eq!(
            program_path(Path::new("/usr/bin/chime (deleted)")),
            Path::new("/usr/bin/chime")
        );
        assert_eq!(
            program_path(Path::new("/usr/bin/chime")),
            Path::new("/usr/bin/chime")
        );
    }

    #[test]
    fn an_entry_is_kept_only_when_it_starts_an_existing_program_hidden() {
        let installed =
            |p: &Path| p == Path::new("/usr/bin/chime") || p == Path::new("/opt/My Apps/chime");
        let ours = entry(Path::new("/usr/bin/chime")).expect("entry");
        let spaced = entry(Path::new("/opt/My Apps/chime")).expect("entry");
        for (what, text, kept) in [
            ("ours", ours.as_str(), true),
            ("ours, path with a space", spaced.as_str(), true),
            (
                "the program is gone",
                "[Desktop Entry]\nExec=/old/chime --hidden\n",
                false,
            ),
            (
                "unquoted path cut at its space",
                "[Desktop Entry]\nExec=/opt/My Apps/chime --hidden\n",
                false,
            ),
            (
                "a replaced program",
                "[Desktop Entry]\nExec=/usr/bin/chime (deleted) --hidden\n",
                false,
            ),
            (
                "not hidden",
                "[Desktop Entry]\nExec=/usr/bin/chime\n",
                false,
            ),
            (
                "a field code",
                "[Desktop Entry]\nExec=/usr/bin/chime --hidden %u\n",
                false,
            ),
            (
                "quotes left open",
                "[Desktop Entry]\nExec=\"/usr/bin/chime --hidden\n",
                false,
            ),
            ("no Exec", "[Desktop Entry]\nName=Chime\n", false),
            ("relative", "[Desktop Entry]\nExec=chime --hidden\n", false),
        ] {
            assert_eq!(is_current(text, installed), kept, "{what}");
        }
    }
}
