//! The command line as clap reads it, and its translation into the engine's plain options.

use crate::store::state;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "wgdeploy",
    version,
    about = "Declarative WireGuard provisioning over SSH that gets NAT right"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Colour the output: auto (only on a terminal, and not when NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

/// `--color`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl From<ColorWhen> for crate::ui::colour::Choice {
    fn from(when: ColorWhen) -> Self {
        match when {
            ColorWhen::Auto => Self::Auto,
            ColorWhen::Always => Self::Always,
            ColorWhen::Never => Self::Never,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what apply would change on the live hosts (diffs, keys redacted); `--offline`: the
    /// planned peers and AllowedIPs from the inventory alone.
    Plan(PlanArgs),
    /// Bring every host to its planned config over SSH, touching only what changed.
    Apply(ApplyArgs),
    /// Put hosts back to the configs of an earlier deployment (the previous one by default).
    Rollback(RollbackArgs),
    /// Read the keys and addresses of hosts that already run WireGuard into the state file, so
    /// apply keeps them; reports what cannot be kept. Changes nothing on the hosts.
    Adopt(AdoptArgs),
    /// Live health of every host: interface, generation, handshakes; `--ping`: real reachability.
    Status(StatusArgs),
    /// Write every host's wg-quick config to DIR/<host>/<interface>.conf (mode 0600).
    Render(RenderArgs),
    /// Prove that every host reaches every other host, by simulating WireGuard's rules.
    Check(CheckArgs),
    /// Print a device's wg-quick config (`manage: false` hosts), or its QR code for the WireGuard
    /// apps, or write it to a file (mode 0600).
    Export(ExportArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Inventory whose rendered configs are checked (no SSH).
    #[arg(required_unless_present = "configs", conflicts_with = "configs")]
    pub inventory: Option<PathBuf>,
    /// Check existing wg-quick files instead: DIR/NAME.conf or DIR/NAME/IFACE.conf, one per host.
    #[arg(long, value_name = "DIR")]
    pub configs: Option<PathBuf>,
    /// With --configs: hosts behind NAT, whose listed endpoints cannot be dialled from outside.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub nat: Vec<String>,
    /// Print the verdicts as JSON.
    #[arg(long)]
    pub json: bool,
    /// State file (with an inventory) [default: beside the inventory]; read, never written.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template (with an inventory).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StateArgs {
    /// Inventory file (YAML).
    pub inventory: PathBuf,
    /// State file with keys and addresses [default: <inventory>.wgdeploy-state.json beside it].
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

impl StateArgs {
    pub(crate) fn state_path(&self) -> PathBuf {
        self.state
            .clone()
            .unwrap_or_else(|| state::default_path(&self.inventory))
    }
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: StateArgs,
    /// Plan from the inventory alone, without contacting hosts.
    #[arg(long)]
    pub offline: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Leave hosts removed from the inventory alone: not contacted, kept in the state file.
    #[arg(long)]
    pub keep_removed: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Key changes asked for (a key never changes otherwise).
#[derive(Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// Give these hosts new private keys, on them and on every peer in the same run.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub rekey: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub common: StateArgs,
    /// Apply without asking for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// If any host fails, roll back the hosts this run already changed.
    #[arg(long)]
    pub atomic: bool,
    /// Replace configs wgdeploy did not write on hosts that were not adopted (new keys); the
    /// original is kept on the host as generation 0.
    #[arg(long)]
    pub replace_unmanaged: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Leave hosts removed from the inventory alone: not contacted, kept in the state file (by
    /// default they are decommissioned, then forgotten).
    #[arg(long)]
    pub keep_removed: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How changing commands (apply, rollback) protect and record hosts.
#[derive(Args, Debug, Clone)]
pub struct ChangeArgs {
    /// Seconds a changed host waits for wgdeploy to confirm over a fresh SSH connection before it
    /// puts back its previous config by itself (lock-out protection).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub confirm_timeout: u64,
    /// Seconds one host's apply step (write, reload or `wg-quick up`) may take; the confirm
    /// window starts when it ends.
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub step_timeout: u64,
    /// Generations kept on each host.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub keep_generations: u64,
    /// Journal of runs [default: <inventory>.wgdeploy-journal.jsonl beside it].
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub common: StateArgs,
    /// The deployment to go back to (an id from the journal or `wgdeploy status`, or a unique
    /// prefix of one), or `original`: what ran before wgdeploy's first deployment (generation 0)
    /// [default: the deployment before the latest; after the first one, `original`].
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
    /// Show what would change (diffs, keys redacted) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Roll back without asking for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Args, Debug)]
pub struct AdoptArgs {
    #[command(flatten)]
    pub common: StateArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: StateArgs,
    /// Also ping every other host's overlay address from every host, next to `check`'s prediction.
    #[arg(long)]
    pub ping: bool,
    /// Seconds without a handshake after which a peer counts as stale.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    pub stale_after: u64,
    /// Print hosts (and with `--ping` the matrix) as one JSON document; the exit code is the same.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How to reach hosts; shared by every command that connects.
#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// known_hosts file to verify host keys against [default: ~/.ssh/known_hosts].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Record the keys of hosts not yet in known_hosts (a changed key is always refused).
    #[arg(long)]
    pub accept_new: bool,
    /// Hosts handled at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub parallel: usize,
    /// Seconds to connect and gather a host's facts.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// Only contact these hosts; every host is still planned from the whole inventory.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

impl ConnectArgs {
    pub(crate) fn connection(&self) -> crate::engine::deploy::Connection {
        crate::engine::deploy::Connection {
            ssh: crate::engine::deploy::ssh_options(
                self.known_hosts.clone(),
                self.accept_new,
                self.timeout.max(1),
            ),
            limits: crate::engine::types::Limits {
                parallel: self.parallel.max(1),
                connect: std::time::Duration::from_secs(self.timeout.max(1) + 30),
                // `apply` and `rollback` set it from `--step-timeout` (see `ChangeArgs`).
                apply: std::time::Duration::from_secs(120),
            },
            hosts: self.hosts.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub common: StateArgs,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: StateArgs,
    /// The device (a host with `manage: false`).
    pub host: String,
    /// Print the config as a QR code to scan with a WireGuard mobile app.
    #[arg(long)]
    pub qr: bool,
    /// Write to FILE (mode 0600) instead of the terminal; `-` for standard output. With `--qr`, a
    /// FILE ending in `.svg` gets the QR code as an SVG image.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}
