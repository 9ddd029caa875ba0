//! What a CLI user expects besides the commands: shell completions, man pages, and exit codes
//! in `--help` and the README that match what the commands do.

mod common;

use common::{repo, stderr, stdout, wgdeploy};

/// Every command a user runs (clap's own `help` aside).
fn commands() -> Vec<String> {
    wgdeploy::cli::help::command()
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn the_command_list_is_the_one_documented() {
    assert_eq!(
        commands(),
        [
            "plan",
            "apply",
            "rotate",
            "rollback",
            "adopt",
            "status",
            "render",
            "check",
            "graph",
            "export",
            "completions",
            "man"
        ]
    );
}

#[test]
fn completions_for_each_shell_know_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = wgdeploy(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(script.len() > 500, "{shell}: {script}");
        for command in commands() {
            assert!(script.contains(&command), "{shell}: no `{command}`");
        }
        // Options of a command are completed too.
        assert!(script.contains("detailed-exitcode"), "{shell}");
    }
}

#[test]
fn bash_completion_script_is_valid_bash() {
    let output = wgdeploy(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wgdeploy.bash");
    std::fs::write(&path, &output.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("run bash");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Sourcing it registers the completion function for `wgdeploy`.
    let sourced = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p wgdeploy", path.display()))
        .output()
        .expect("run bash");
    assert!(
        String::from_utf8_lossy(&sourced.stdout).contains("_wgdeploy"),
        "{}",
        String::from_utf8_lossy(&sourced.stderr)
    );
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let output = wgdeploy(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("bash"), "{}", stderr(&output));
}

#[test]
fn man_page_names_every_command_and_its_exit_codes() {
    let output = wgdeploy(&["man"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let page = stdout(&output);
    for section in [
        ".TH wgdeploy 1",
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "no `{section}`:\n{page}");
    }
    for command in commands() {
        assert!(
            page.contains(&format!("wgdeploy\\-{command}(1)")),
            "no `{command}`"
        );
        let output = wgdeploy(&["man", &command]);
        assert!(output.status.success(), "{command}: {}", stderr(&output));
        let page = stdout(&output);
        assert!(
            page.contains(&format!(".TH wgdeploy\\-{command} 1"))
                || page.contains(&format!(".TH wgdeploy-{command} 1")),
            "{page}"
        );
        assert!(page.contains(".SH SYNOPSIS") && page.contains("Exit codes:"));
    }
}

#[test]
fn man_for_an_unknown_command_names_the_commands() {
    let output = wgdeploy(&["man", "deploy"]);
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("there is no command `deploy`") && error.contains("plan, apply"),
        "{error}"
    );
}

#[test]
fn every_help_lists_exit_codes() {
    for command in commands() {
        let output = wgdeploy(&[&command, "--help"]);
        assert!(output.status.success(), "{command}");
        let help = stdout(&output);
        let codes = help
            .split_once("Exit codes:\n")
            .unwrap_or_else(|| panic!("{command} --help has no exit codes:\n{help}"))
            .1;
        assert!(codes.starts_with("  0  "), "{command}: {codes}");
        assert!(codes.contains("\n  2  "), "{command}: {codes}");
    }
    let output = wgdeploy(&["--help"]);
    assert!(stdout(&output).contains("Exit codes:\n  0  the command succeeded\n"));
}

#[test]
fn readme_lists_the_exit_codes_help_shows() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let table = wgdeploy::cli::help::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's exit code table differs from `--help`; it should read:\n{table}"
    );
}

/// The documented codes are the ones the binary returns.
#[test]
fn exit_codes_are_the_documented_ones() {
    let code = |args: &[&str]| wgdeploy(args).status.code();
    assert_eq!(code(&["plan", "--no-such-option", "x.yaml"]), Some(2));
    assert_eq!(code(&["graph"]), Some(2), "missing argument");
    assert_eq!(code(&["--version"]), Some(0));
    assert_eq!(code(&["check", "/nonexistent/inventory.yaml"]), Some(1));
    assert_eq!(
        code(&[
            "check",
            "examples/nat-relay/inventory.yaml",
            "--state",
            "/nonexistent/state.json"
        ]),
        Some(0)
    );
    assert_eq!(code(&["graph", "/nonexistent/inventory.yaml"]), Some(1));
}
