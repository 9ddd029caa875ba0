//! `--color` and `NO_COLOR`: colour when asked, never in JSON, and plain by default when piped
//! (how every other test runs the binary, byte for byte).

mod common;

use common::{repo, stdout, wgdeploy};
use std::process::Command;

const ESC: char = '\u{1b}';

fn check(extra: &[&str]) -> String {
    let inventory = repo("examples/nat-relay/inventory.yaml");
    let mut args = vec![
        "check",
        inventory.to_str().unwrap(),
        "--state",
        "/nonexistent/s.json",
    ];
    args.extend_from_slice(extra);
    stdout(&wgdeploy(&args))
}

#[test]
fn always_colours_the_verdicts() {
    let text = check(&["--color", "always"]);
    assert!(text.contains("\u{1b}[32m✓\u{1b}[0m"), "{text}");
    // Colour codes take no width: the grid aligns as it does plain.
    let plain = check(&[]);
    let stripped = text.replace("\u{1b}[32m", "").replace("\u{1b}[0m", "");
    assert_eq!(stripped, plain);
}

#[test]
fn never_piped_and_json_are_plain() {
    for extra in [
        &["--color", "never"][..],
        &[],
        &["--color", "auto"],
        &["--json", "--color", "always"],
    ] {
        let text = check(extra);
        assert!(!text.is_empty());
        assert!(!text.contains(ESC), "{extra:?}: {text}");
    }
}

#[test]
fn no_color_turns_auto_off() {
    let inventory = repo("examples/nat-relay/inventory.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_wgdeploy"))
        .args([
            "check",
            inventory.to_str().unwrap(),
            "--state",
            "/nonexistent/s.json",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(text.contains('✓') && !text.contains(ESC), "{text}");
}

#[test]
fn the_option_is_global() {
    let inventory = repo("examples/nat-relay/inventory.yaml");
    let output = wgdeploy(&[
        "--color",
        "never",
        "plan",
        "--offline",
        inventory.to_str().unwrap(),
        "--state",
        "/nonexistent/s.json",
    ]);
    assert!(output.status.success());
    assert!(!stdout(&output).contains(ESC));
}
