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
    /// planned peers and AllowedIPs from the inventory alone (one line per host beyond 20 hosts).
    Plan(PlanArgs),
    /// Bring every host to its planned config over SSH, touching only what changed.
    Apply(ApplyArgs),
    /// New keys for hosts (every managed host by default) and their peers updated in the same run;
    /// `--psk`: new preshared keys for every pair touching a rotated host.
    Rotate(RotateArgs),
    /// Put hosts back to the configs of an earlier deployment (the previous one by default).
    Rollback(RollbackArgs),
    /// Read the keys and addresses of hosts that already run WireGuard into the state file, so
    /// apply keeps them; reports what cannot be kept. Changes nothing on the hosts.
    Adopt(AdoptArgs),
    /// Live health of every host: interface, generation, handshakes; `--ping`: real reachability.
    Status(StatusArgs),
    /// Write every host's wg-quick config to DIR/<host>/<interface>.conf (mode 0600).
    Render(RenderArgs),
    /// Prove that every host reaches every other host, by simulating WireGuard's rules: on the
    /// configs an inventory renders, or with `--configs DIR` on existing wg-quick files.
    Check(CheckArgs),
    /// Print a device's wg-quick config (`manage: false` hosts), or its QR code for the WireGuard
    /// apps, or write it to a file (mode 0600).
    Export(ExportArgs),
    /// Draw the network: hosts grouped by kind, tunnels labelled with what they carry (Mermaid or
    /// Graphviz DOT); `--check`: mark the pairs `check` cannot prove.
    Graph(GraphArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff) of wgdeploy, or of one of its commands.
    Man(ManArgs),
}

#[derive(Args, Debug)]
#[command(
    override_usage = "wgdeploy check [OPTIONS] INVENTORY\n       wgdeploy check [OPTIONS] --configs DIR",
    after_help = "Two inputs: an INVENTORY, whose configs are rendered in memory, or `--configs DIR`, \
                  existing wg-quick files. Each takes only the options under its heading."
)]
pub struct CheckArgs {
    /// Inventory whose rendered configs are checked (no SSH); or give `--configs DIR` instead.
    #[arg(required_unless_present = "configs", conflicts_with = "configs")]
    pub inventory: Option<PathBuf>,
    /// Check existing wg-quick files instead of an inventory: DIR/NAME.conf or
    /// DIR/NAME/IFACE.conf, one per host.
    #[arg(long, value_name = "DIR")]
    pub configs: Option<PathBuf>,
    /// Print the verdicts as JSON.
    #[arg(long)]
    pub json: bool,
    /// State file [default: beside the inventory]; read, never written.
    #[arg(long, value_name = "FILE", help_heading = "With an INVENTORY")]
    pub state: Option<PathBuf>,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR", help_heading = "With an INVENTORY")]
    pub templates: Option<PathBuf>,
    /// Hosts behind NAT, whose listed endpoints cannot be dialled from outside (an inventory
    /// says it with `role: nat`).
    #[arg(
        long,
        value_name = "HOST,...",
        value_delimiter = ',',
        help_heading = "With --configs DIR"
    )]
    pub nat: Vec<String>,
    /// Hosts that forward by means outside their configs (a sysctl set elsewhere), so paths
    /// through them, and to the subnets behind them, are proven instead of conditional (an
    /// inventory says it with `relay: true` or `routes`).
    #[arg(
        long,
        value_name = "HOST,...",
        value_delimiter = ',',
        help_heading = "With --configs DIR"
    )]
    pub forwards: Vec<String>,
    /// A host's own address families, `HOST=ipv6` or `HOST=ipv4,ipv6` (repeat for more hosts);
    /// without it, those of the IP endpoints others list for the host, else IPv4 (an inventory
    /// says it with `underlay:`).
    #[arg(
        long,
        value_name = "HOST=FAMILIES",
        value_parser = parse_underlay,
        help_heading = "With --configs DIR"
    )]
    pub underlay: Vec<(String, crate::core::underlay::Families)>,
}

/// `HOST=ipv6`, `HOST=ipv4,ipv6`.
fn parse_underlay(text: &str) -> Result<(String, crate::core::underlay::Families), String> {
    let (host, families) = text
        .split_once('=')
        .ok_or_else(|| "write HOST=FAMILIES, e.g. `web=ipv6` or `laptop=ipv4,ipv6`".to_owned())?;
    let mut all = crate::core::underlay::Families::NONE;
    for family in families.split(',') {
        let one = crate::core::underlay::Families::parse_one(family).ok_or_else(|| {
            format!(
                "`{}` is not an address family: write `ipv4`, `ipv6` or `ipv4,ipv6`",
                crate::core::model::printable_excerpt(family)
            )
        })?;
        all = all.union(one);
    }
    if host.is_empty() {
        return Err("name the host before `=`, e.g. `web=ipv6`".to_owned());
    }
    Ok((host.to_owned(), all))
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
    /// Plan from the inventory alone, without contacting hosts: each host's peers, AllowedIPs and
    /// why. Beyond 20 hosts one line per host (`--verbose` or `--hosts` for the details).
    #[arg(long)]
    pub offline: bool,
    /// Print the plan as JSON (with `--offline`: always the full details).
    #[arg(long)]
    pub json: bool,
    /// Live: only contact these hosts (every host is still planned from the whole inventory).
    /// With `--offline`: only show these hosts, in full.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// One line per host, however small the fleet.
    #[arg(long, conflicts_with = "verbose", help_heading = "With --offline")]
    pub summary: bool,
    /// Every host's peers and AllowedIPs, however large the fleet.
    #[arg(long, help_heading = "With --offline")]
    pub verbose: bool,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR", help_heading = LIVE_PLAN)]
    pub templates: Option<PathBuf>,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on errors.
    #[arg(long, help_heading = LIVE_PLAN)]
    pub detailed_exitcode: bool,
    /// Leave hosts removed from the inventory alone: not contacted, kept in the state file.
    #[arg(long, help_heading = LIVE_PLAN)]
    pub keep_removed: bool,
    #[command(flatten, next_help_heading = LIVE_PLAN)]
    pub keys: KeyArgs,
    #[command(flatten, next_help_heading = LIVE_PLAN)]
    pub connect: ConnectArgs,
}

/// The heading of `plan`'s options that only the live plan takes (`cli::usage` refuses them with
/// `--offline`).
const LIVE_PLAN: &str = "Live plan only (not with --offline)";

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
    /// Only contact and change these hosts (every host is still planned from the whole
    /// inventory; a host removed from it may be named to decommission it alone).
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
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

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub common: StateArgs,
    /// Rotate without asking for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// If any host fails, roll back the hosts this run already changed.
    #[arg(long)]
    pub atomic: bool,
    /// Rotate only these hosts' keys [default: every managed host; devices only when named].
    /// Their peers are changed too, so they are contacted as well.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Also new preshared keys for every pair touching a rotated host (`preshared_keys: true`).
    #[arg(long)]
    pub psk: bool,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    #[command(flatten)]
    pub change: ChangeArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How changing commands (apply, rotate, rollback) protect and record hosts.
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
    /// Only contact and roll back these hosts.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Refused (see `cli::usage`): taken before, ignored, since configs come from the hosts.
    #[arg(long, value_name = "DIR", hide = true)]
    pub templates: Option<PathBuf>,
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
    /// Only read these hosts.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Refused (see `cli::usage`): taken before, ignored, since adopt renders nothing.
    #[arg(long, value_name = "DIR", hide = true)]
    pub templates: Option<PathBuf>,
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
    /// Only survey these hosts (with `--ping`, each still pings every host of the inventory).
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template: the configs hosts are
    /// compared with ("in sync") and `--ping`'s predictions are rendered with it.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
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
    /// Hosts handled at once. Talking to hosts is waiting on the network, so the default takes a
    /// hundred hosts in one go; handshakes to one address and port stay at most 8 at a time
    /// (sshd's MaxStartups).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub parallel: usize,
    /// Seconds to connect and gather a host's facts.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

impl ConnectArgs {
    /// How to reach `hosts` (every host of the inventory when empty).
    pub(crate) fn connection(&self, hosts: &[String]) -> crate::engine::deploy::Connection {
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
            hosts: hosts.to_vec(),
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
    /// FILE ending in `.svg` or `.png` gets the QR code as an SVG or PNG image.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    #[command(flatten)]
    pub common: StateArgs,
    /// mermaid (renders in Markdown viewers) or dot (Graphviz: `dot -Tsvg`).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
    /// Also run `check` on the configs `render` would write and mark the pairs it cannot prove
    /// (dashed red, listed in a note); exit 1 when there are any.
    #[arg(long)]
    pub check: bool,
    /// With --check: directory whose wg-quick.conf.j2 replaces the built-in template.
    #[arg(long, value_name = "DIR", requires = "check")]
    pub templates: Option<PathBuf>,
}

/// `graph --format`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// A command whose page to print (wgdeploy-COMMAND(1)) [default: wgdeploy(1)].
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}
