//! `wgdeploy completions SHELL` and `wgdeploy man [COMMAND]`: generated at run time from the same
//! command line that parses arguments (`cli::help::command`), so they never fall behind it.

use crate::cli::args::{CompletionsArgs, ManArgs};
use crate::cli::out::write_out;
use crate::core::error::{Diagnostic, Result};
use std::io::Write;

/// The completion script for a shell, on `out`.
pub fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> Result<()> {
    let mut command = crate::cli::help::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "wgdeploy", &mut script);
    write_out(out, &String::from_utf8_lossy(&script))
}

/// wgdeploy(1), or wgdeploy-COMMAND(1), in roff.
pub fn man(args: &ManArgs, out: &mut dyn Write) -> Result<()> {
    let mut command = crate::cli::help::command();
    // Building gives subcommands their full names (`wgdeploy-plan`, usage `wgdeploy plan`).
    command.build();
    let page = match &args.command {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = command
                    .get_subcommands()
                    .map(clap::Command::get_name)
                    .filter(|name| *name != "help")
                    .collect();
                return Err(Diagnostic::new(format!(
                    "there is no command `{}`",
                    crate::core::model::printable(name)
                ))
                .help(format!("commands are: {}", names.join(", ")))
                .into());
            }
        },
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("wgdeploy {}", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)
        .map_err(|err| Diagnostic::new(format!("cannot write the man page: {err}")))?;
    write_out(out, &String::from_utf8_lossy(&roff))
}
