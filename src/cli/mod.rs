//! Command-line interface: clap arguments (`args`) turned into plain options and calls into the
//! engine; one module per command; output written through `out`.

use crate::cli::args::{Cli, Command};
use crate::core::error::{Error, Result};
use std::io::Write;

pub mod adopt;
pub mod args;
pub mod check;
pub mod completions;
pub mod export;
pub mod graph;
pub mod help;
pub mod live;
pub mod out;
pub mod plan_offline;
pub mod render;
pub mod rollback;
pub mod status;
pub mod usage;

/// Reads the command line. A usage error — clap's own, or an option given to a command that would
/// ignore it (see [`usage`]) — prints its message and exits 2. `--help` ends with the exit codes
/// (see [`help`]).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let matches = help::command().get_matches();
    if let Err(error) = usage::refuse_ignored(&matches) {
        error.exit()
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// Runs a command; what it prints goes to `out`. Returns the exit code of a successful run (`plan
/// --detailed-exitcode` uses 2 for "changes").
///
/// A command given `--json` that fails before printing its document prints the errors as one JSON
/// document instead (README, "JSON output") and fails silently: a script reading stdout gets JSON
/// either way, and the exit code is still 1.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<u8> {
    let json = wants_json(&cli.command);
    let mut watched = Watched {
        inner: out,
        written: false,
    };
    match dispatch(cli.command, &mut watched) {
        Err(error) if json && !watched.written && !error.diagnostics().is_empty() => {
            let mut text = serde_json::to_string_pretty(&crate::ui::errors::json(&error))
                .expect("a JSON value serializes");
            text.push('\n');
            out::write_out(watched.inner, &text)?;
            Err(Error::silent())
        }
        other => other,
    }
}

/// Whether the command prints JSON (`--json`), errors included.
fn wants_json(command: &Command) -> bool {
    match command {
        Command::Plan(args) => args.json,
        Command::Check(args) => args.json,
        Command::Status(args) => args.json,
        _ => false,
    }
}

/// `out`, noting whether anything was printed: errors after part of a document (a broken pipe
/// mid-way) stay plain text rather than a second document.
struct Watched<'a> {
    inner: &'a mut dyn Write,
    written: bool,
}

impl Write for Watched<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written |= !buf.is_empty();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn dispatch(command: Command, out: &mut dyn Write) -> Result<u8> {
    match command {
        Command::Plan(args) if args.offline => plan_offline::plan(&args, out).map(|()| 0),
        Command::Plan(args) => live::plan(&args, out),
        Command::Apply(args) => live::apply(&args, out),
        Command::Rotate(args) => live::rotate(&args, out),
        Command::Rollback(args) => rollback::rollback(&args, out),
        Command::Adopt(args) => adopt::adopt(&args, out),
        Command::Status(args) => status::status(&args, out),
        Command::Render(args) => render::render(&args, out).map(|()| 0),
        Command::Check(args) => check::check(&args, out).map(|()| 0),
        Command::Export(args) => export::export(&args, out).map(|()| 0),
        Command::Graph(args) => graph::graph(&args, out).map(|()| 0),
        Command::Completions(args) => completions::completions(&args, out).map(|()| 0),
        Command::Man(args) => completions::man(&args, out).map(|()| 0),
    }
}
