//! chime-server's command line as an operator meets it.

const BIN: &str = env!("CARGO_BIN_EXE_chime-server");

fn run(args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .args(args)
        .output()
        .expect("run");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn chime_server_prints_its_version_help_and_a_man_page_made_from_its_options() {
    assert_eq!(
        run(&["--version"]).trim(),
        format!("chime-server {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(run(&["--help"]).contains("--publisher-key"));
    let man = run(&["--print-man-page"]);
    for want in [
        ".TH chime-server 1",
        "\\-\\-bind",
        "\\-\\-redis",
        "\\-\\-publisher\\-key",
    ] {
        assert!(man.contains(want), "{want} in the man page");
    }
}
