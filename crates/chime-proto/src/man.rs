//! Man pages from the clap definitions themselves (`make man`).

/// The flag that prints a binary's man page (roff, to stdout) instead of
/// running it: `make man` uses it, so the pages come from the clap
/// definitions themselves.
pub const MAN_FLAG: &str = "--print-man-page";

/// If the command line is exactly `<bin> --print-man-page`, print the man
/// page of `cmd` and say so (the caller exits).
pub fn print_man_if_asked(cmd: clap::Command) -> bool {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(MAN_FLAG)) || args.next().is_some() {
        return false;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
        eprintln!("cannot write the man page: {e}");
    }
    true
}
