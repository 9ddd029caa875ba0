//! The command line as users see it in `--help`, completions and man pages: clap's derived
//! command with every command's exit codes after its help. One table here feeds all three and the
//! README (a test holds the README to it).

use crate::cli::args::Cli;
use clap::CommandFactory;
use std::fmt::Write;

/// Exit codes every command shares: clap's for a command line it cannot read.
const USAGE: (u8, &str) = (
    2,
    "the command line is wrong: an unknown or missing argument, or an option the command would ignore there; `--help` and `--version` exit 0",
);

/// Each command's exit codes besides [`USAGE`], read off `cli/*.rs` (`main` maps every error to 1).
pub const EXIT_CODES: &[(&str, &[(u8, &str)])] = &[
    (
        "plan",
        &[
            (
                0,
                "the plan was printed (with `--detailed-exitcode`: and no host needs a change)",
            ),
            (
                1,
                "an error: the inventory, the state or an option is wrong, or a host could not be surveyed (each named on stderr)",
            ),
            (2, "with `--detailed-exitcode`: some host needs a change"),
        ],
    ),
    (
        "apply",
        &[
            (
                0,
                "every host is as planned: changed and verified, or nothing to do",
            ),
            (
                1,
                "an error: the inventory, the state or an option is wrong, the confirmation was refused, or a host failed (each named with its fix; with `--atomic` the hosts this run changed were rolled back)",
            ),
        ],
    ),
    (
        "rotate",
        &[
            (
                0,
                "the chosen hosts run new keys and every peer of theirs lists them, verified (or nothing to do)",
            ),
            (
                1,
                "an error: the inventory, the state or an option is wrong (a device with a declared key, `--psk` without preshared keys), a host the rotation changes could not be surveyed (nothing changed), the confirmation was refused, or a host failed (each named with its fix; with `--atomic` the hosts this run changed were rolled back)",
            ),
        ],
    ),
    (
        "rollback",
        &[
            (
                0,
                "every host is back on the chosen deployment, or needed nothing; with `--dry-run`: the plan was printed",
            ),
            (
                1,
                "an error: no such deployment, the inventory, the state or an option is wrong, the confirmation was refused, or a host could not be surveyed or rolled back (each named)",
            ),
        ],
    ),
    (
        "adopt",
        &[
            (
                0,
                "every selected host was read (what cannot be kept is reported, and is not an error)",
            ),
            (
                1,
                "an error: the inventory, the state or an option is wrong, or a host could not be read (each named)",
            ),
        ],
    ),
    (
        "status",
        &[
            (
                0,
                "healthy: every selected host was surveyed, runs its interface and routes its AllowedIPs (with `--ping`: and ping agrees with `check`)",
            ),
            (
                1,
                "not healthy (the report says which host and why), or the inventory, the state or an option is wrong",
            ),
        ],
    ),
    (
        "render",
        &[
            (0, "every config was written, or was already right"),
            (
                1,
                "an error: the inventory, the state, the template or the output directory is wrong",
            ),
        ],
    ),
    (
        "check",
        &[
            (0, "every ordered pair of hosts is reachable both ways"),
            (
                1,
                "some pair is not (the report explains each), or the inventory, the state or the configs are wrong",
            ),
        ],
    ),
    (
        "graph",
        &[
            (
                0,
                "the picture was printed (with `--check`: and `check` proves every pair)",
            ),
            (
                1,
                "with `--check`: some pair is not proven (marked in the picture, counted on stderr); or the inventory or the state is wrong",
            ),
        ],
    ),
    (
        "export",
        &[
            (
                0,
                "the device's config (or its QR code) was printed or written",
            ),
            (
                1,
                "an error: the host is not a device of the inventory, the config would go into a pipe without `--out`, the inventory, the state or the output file is wrong",
            ),
        ],
    ),
    ("completions", &[(0, "the script was printed")]),
    (
        "man",
        &[(0, "the page was printed"), (1, "no command has that name")],
    ),
];

/// The clap command with the exit codes after each command's help.
pub fn command() -> clap::Command {
    let mut command = Cli::command().after_help(after_help(&[
        (0, "the command succeeded"),
        (1, "it failed; see each command's --help"),
    ]));
    for (name, codes) in EXIT_CODES {
        command = command.mut_subcommand(*name, |sub| sub.after_help(after_help(codes)));
    }
    command
}

fn after_help(codes: &[(u8, &str)]) -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in codes {
        let _ = writeln!(text, "  {code}  {meaning}");
    }
    // A command that gives 2 its own meaning (plan) shares it with the usage error.
    let also = match codes.iter().any(|(code, _)| *code == USAGE.0) {
        true => "also: ",
        false => "",
    };
    let _ = writeln!(text, "  {}  {also}{}", USAGE.0, USAGE.1);
    text
}

/// The README's table of exit codes.
pub fn markdown_table() -> String {
    let mut text = String::from("| command | exit codes |\n|---|---|\n");
    for (name, codes) in EXIT_CODES {
        let cells: Vec<String> = codes
            .iter()
            .map(|(code, meaning)| format!("`{code}` {meaning}"))
            .collect();
        let _ = writeln!(text, "| `{name}` | {} |", cells.join("; "));
    }
    let _ = writeln!(text, "| every command | `{}` {} |", USAGE.0, USAGE.1);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_lists_its_exit_codes() {
        let command = command();
        let named: Vec<&str> = EXIT_CODES.iter().map(|(name, _)| *name).collect();
        for sub in command.get_subcommands() {
            assert!(
                named.contains(&sub.get_name()),
                "`{}` has no exit codes in EXIT_CODES",
                sub.get_name()
            );
            let help = sub.get_after_help().expect("after_help").to_string();
            assert!(help.starts_with("Exit codes:\n  0  "), "{help}");
            assert!(help.contains("  2  "), "{help}");
        }
        assert_eq!(named.len(), command.get_subcommands().count());
    }

    #[test]
    fn plan_shares_2_with_usage_errors() {
        let command = command();
        let plan = command.find_subcommand("plan").unwrap();
        let help = plan.get_after_help().unwrap().to_string();
        assert!(help.contains("  2  with `--detailed-exitcode`: some host needs a change\n"));
        assert!(
            help.contains("  2  also: the command line is wrong"),
            "{help}"
        );
    }
}
