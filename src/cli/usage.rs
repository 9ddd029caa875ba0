//! Options a command would ignore are refused, not dropped: `plan --offline --hosts web` must not
//! print every host, `check INVENTORY --nat home` must not check without `--nat`. Each rule names
//! the option, why it does nothing there, and what to use instead; the error is a usage error
//! (exit 2), like clap's own.
//!
//! Options that never apply to a command are simply not among its arguments (clap refuses them);
//! the rules here are for options that apply in one mode of a command and not in another.

use crate::cli::args::Cli;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};

/// When a rule's option is ignored: with, or without, another option given; or always (an option
/// the command once took, hidden from its help, kept to say what to do instead).
#[derive(Debug, Clone, Copy)]
enum When {
    With(&'static str),
    Without(&'static str),
    Always,
}

/// `option` (a clap argument id) does nothing on `command` `when`; `why` says so and what to do.
struct Rule {
    command: &'static str,
    option: &'static str,
    when: When,
    why: &'static str,
}

const fn rule(command: &'static str, option: &'static str, when: When, why: &'static str) -> Rule {
    Rule {
        command,
        option,
        when,
        why,
    }
}

const CONTACTS_HOSTS: &str = "is for contacting hosts, and `plan --offline` contacts none: drop it, or drop `--offline` to plan against the live hosts";
const OFFLINE_FORM: &str = "shapes the text of `plan --offline`: add `--offline` (the live plan shows one entry per host already)";
const JSON_COMPLETE: &str = "shapes the text of `plan --offline`, and `--json` always has every detail: drop one of them (`jq` selects from the JSON)";
const DRY_RUN: &str =
    "applies when hosts are changed, and `--dry-run` changes nothing: drop one of them";

use When::{Always, With, Without};

/// Every option that one mode of a command ignores.
const RULES: &[Rule] = &[
    rule("plan", "known_hosts", With("offline"), CONTACTS_HOSTS),
    rule("plan", "accept_new", With("offline"), CONTACTS_HOSTS),
    rule("plan", "parallel", With("offline"), CONTACTS_HOSTS),
    rule("plan", "timeout", With("offline"), CONTACTS_HOSTS),
    rule(
        "plan",
        "detailed_exitcode",
        With("offline"),
        "tells whether the live hosts need changes, and `plan --offline` does not read them: drop `--offline` to compare with the hosts",
    ),
    rule(
        "plan",
        "keep_removed",
        With("offline"),
        "is about hosts removed from the inventory, which only the live plan handles (it finds them in the state file and contacts them): drop `--offline`",
    ),
    rule(
        "plan",
        "rekey",
        With("offline"),
        "changes keys, which the offline plan does not show: `wgdeploy plan INVENTORY --rekey HOST` (without `--offline`) shows what it changes on the hosts",
    ),
    rule(
        "plan",
        "templates",
        With("offline"),
        "shapes the config files, which the offline plan does not show: `wgdeploy render INVENTORY --templates DIR --out OUT` writes them, or drop `--offline`",
    ),
    rule("plan", "summary", Without("offline"), OFFLINE_FORM),
    rule("plan", "verbose", Without("offline"), OFFLINE_FORM),
    rule("plan", "summary", With("json"), JSON_COMPLETE),
    rule("plan", "verbose", With("json"), JSON_COMPLETE),
    rule(
        "rollback",
        "yes",
        With("dry_run"),
        "confirms a rollback, and `--dry-run` changes nothing: drop one of them",
    ),
    rule("rollback", "confirm_timeout", With("dry_run"), DRY_RUN),
    rule("rollback", "step_timeout", With("dry_run"), DRY_RUN),
    rule("rollback", "keep_generations", With("dry_run"), DRY_RUN),
    rule(
        "rollback",
        "templates",
        Always,
        "restores the configs the hosts kept (their generations) and renders nothing: drop it",
    ),
    rule(
        "adopt",
        "templates",
        Always,
        "reads what the hosts run and renders nothing: drop it (give it to `plan` and `apply`)",
    ),
    rule(
        "check",
        "nat",
        Without("configs"),
        "is for `check --configs DIR` (existing wg-quick files); with an inventory, a host's `role: nat` says it is behind NAT",
    ),
    rule(
        "check",
        "underlay",
        Without("configs"),
        "is for `check --configs DIR` (existing wg-quick files); with an inventory, a host's `underlay:` (or its endpoints) says which address families it has",
    ),
    rule(
        "check",
        "forwards",
        Without("configs"),
        "is for `check --configs DIR` (existing wg-quick files); with an inventory, relays and hosts with `routes` forward",
    ),
    rule(
        "check",
        "state",
        With("configs"),
        "goes with an INVENTORY; `check --configs DIR` takes each host's key from its config's PrivateKey",
    ),
    rule(
        "check",
        "templates",
        With("configs"),
        "renders an INVENTORY's configs; `check --configs DIR` checks the files as they are",
    ),
];

/// Refuses every option given to a command in a mode that ignores it, all at once.
pub fn refuse_ignored(matches: &ArgMatches) -> Result<(), clap::Error> {
    let Some((command, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let refused: Vec<String> = RULES
        .iter()
        .filter(|rule| rule.command == command)
        .filter(|rule| given(sub, rule.option) && applies(sub, rule.when))
        .map(|rule| {
            format!(
                "`{}` does nothing {}: it {}",
                flag(command, rule.option),
                match rule.when {
                    With(other) => format!("with `{}`", flag(command, other)),
                    Without(other) => format!("without `{}`", flag(command, other)),
                    Always => format!("on `{command}`"),
                },
                rule.why
            )
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let mut cli = Cli::command();
    cli.build();
    let sub = cli
        .find_subcommand_mut(command)
        .expect("a parsed subcommand exists");
    Err(sub.error(
        clap::error::ErrorKind::ArgumentConflict,
        refused.join("\n       "),
    ))
}

fn applies(matches: &ArgMatches, when: When) -> bool {
    match when {
        With(other) => given(matches, other),
        Without(other) => !given(matches, other),
        Always => true,
    }
}

/// The user wrote it (a default value is not an option given).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// `--known-hosts` for the id `known_hosts`, as the command spells it.
fn flag(command: &str, id: &str) -> String {
    let cli = Cli::command();
    cli.find_subcommand(command)
        .and_then(|sub| sub.get_arguments().find(|arg| arg.get_id() == id))
        .and_then(|arg| arg.get_long())
        .map_or_else(|| id.to_owned(), |long| format!("--{long}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule naming an option its command does not have would never fire (and clap panics on an
    /// unknown id in debug builds).
    #[test]
    fn every_rule_names_options_of_its_command() {
        let cli = Cli::command();
        for rule in RULES {
            let sub = cli.find_subcommand(rule.command).expect(rule.command);
            let other = match rule.when {
                With(other) | Without(other) => Some(other),
                Always => None,
            };
            for id in std::iter::once(rule.option).chain(other) {
                assert!(
                    sub.get_arguments().any(|arg| arg.get_id() == id),
                    "{} has no `{id}`",
                    rule.command
                );
            }
        }
    }

    fn refusal(args: &[&str]) -> Option<String> {
        let matches = Cli::command().try_get_matches_from(args).expect("parses");
        refuse_ignored(&matches)
            .err()
            .map(|error| error.to_string())
    }

    #[test]
    fn a_default_value_is_not_a_given_option() {
        assert_eq!(
            refusal(&["wgdeploy", "plan", "inv.yaml", "--offline"]),
            None
        );
        assert_eq!(
            refusal(&["wgdeploy", "rollback", "inv.yaml", "--dry-run"]),
            None
        );
    }

    #[test]
    fn each_ignored_option_is_named_with_what_to_do() {
        let text = refusal(&[
            "wgdeploy",
            "plan",
            "inv.yaml",
            "--offline",
            "--parallel",
            "4",
            "--rekey",
            "web",
        ])
        .expect("refused");
        assert!(
            text.contains("`--parallel` does nothing with `--offline`"),
            "{text}"
        );
        assert!(
            text.contains("`--rekey` does nothing with `--offline`"),
            "{text}"
        );
        let text = refusal(&["wgdeploy", "plan", "inv.yaml", "--summary"]).expect("refused");
        assert!(text.contains("without `--offline`: it shapes"), "{text}");
    }
}
