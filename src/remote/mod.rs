//! The shell scripts wgdeploy runs on hosts, in one place.
//!
//! Each script is a static file under `src/remote/scripts/` with the shared functions of `lib.sh`
//! in front, embedded at compile time. Every value it works on is a positional argument
//! (`sh -c SCRIPT wgdeploy ARG...`, each argument quoted by [`quote`]), so nothing from the
//! inventory or from a host's answer is ever spliced into script text; values from the inventory
//! are validated before they get here too (interface names by `InterfaceName`, sysctl keys are
//! constants). Secrets never appear in a command line (other users can read it in `ps`): the config
//! travels on the command's stdin.
//!
//! Scripts are POSIX `sh` (tested under dash, busybox sh and posh, and clean under
//! `shellcheck -s sh`), wrapped as `sh -c '…'` so a user whose login shell is fish or csh still
//! runs them in `sh`, and as `sudo -n sh -c '…'` for `become: sudo` (never prompting: a password
//! prompt would hang an unattended run).
//!
//! Output is a sequence of `@@section` lines followed by that section's lines; file contents are
//! framed by their byte length so any content survives. The parsers live in `facts`, and in
//! `removal` for the decommissioning scripts.

pub mod facts;
pub mod removal;
pub mod shipped;

use crate::core::change::{Action, ApplyStep};
use crate::core::model::InterfaceName;
use crate::core::paths::FORWARDING_SYSCTLS;
use std::borrow::Cow;

/// Quotes one word for `sh`: plain words as they are, anything else in single quotes, where nothing
/// is special except the quote itself (written `'\''`). Predictable for whole scripts full of `$`,
/// which is why this is not shlex's quoter (it may pick double quotes). A NUL cannot be passed in a
/// command line at all; such a word becomes an empty one rather than a broken command.
pub fn quote(word: &str) -> String {
    if word.contains('\0') {
        return "''".to_owned();
    }
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// How commands are elevated on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Become {
    /// Connected as root (or as a user who may do everything needed).
    None,
    /// `sudo -n`: fails at once with "a password is required" instead of prompting.
    Sudo,
}

/// A script to run on a host: static text (one of the files under `src/remote/scripts/`, with
/// `lib.sh` in front) and the values it works on, passed as positional arguments. Nothing from the
/// inventory or from a host's answer is ever part of `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub text: Cow<'static, str>,
    pub args: Vec<String>,
}

impl Script {
    /// `source` is an embedded script; what runs is its shipped text (without comment lines).
    fn new(source: &'static str, args: Vec<String>) -> Script {
        Script {
            text: Cow::Borrowed(shipped::shipped(source)),
            args,
        }
    }
}

/// The command line that runs `script` in `sh` as `sh -c SCRIPT wgdeploy ARG...` (`$0` is
/// `wgdeploy`, the values are `$1`…), elevated as asked.
pub fn command(script: &Script, become_: Become) -> String {
    let mut line = match become_ {
        Become::None => String::from("sh -c "),
        Become::Sudo => String::from("sudo -n sh -c "),
    };
    line.push_str(&quote(&script.text));
    line.push_str(" wgdeploy");
    for arg in &script.args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line
}

/// The scripts, each with `lib.sh` in front, embedded at compile time.
macro_rules! script_file {
    ($name:literal) => {
        concat!(
            include_str!("scripts/lib.sh"),
            include_str!(concat!("scripts/", $name))
        )
    };
}
const LIB: &str = include_str!("scripts/lib.sh");
const FACTS: &str = script_file!("facts.sh");
/// Apply's survey: `facts.sh` (its stdin closed: it reads none), then `then-apply.sh`, which waits
/// for the step and runs `apply.sh` on the same command. Its first three arguments are `lib.sh`
/// (evaluated first, and what revert.sh is made of), the rest of revert.sh, and the ready
/// marker's nonce: each host's login shell parses every byte of a command line, so revert.sh's
/// two variants are put together on the host rather than sent whole (62 KiB of command, 29 KiB
/// this way).
macro_rules! facts_then_apply_body {
    () => {
        concat!(
            "# shellcheck disable=SC2034 # then-apply.sh puts revert.sh together from them\n",
            "lib=$1 revert_body=$2 ready=$3; shift 3\n",
            "eval \"$lib\"\n{\n",
            include_str!("scripts/facts.sh"),
            "} </dev/null\n",
            include_str!("scripts/then-apply.sh"),
            include_str!("scripts/apply.sh"),
        )
    };
}
const FACTS_THEN_APPLY_BODY: &str = facts_then_apply_body!();
/// [`FACTS_THEN_APPLY_BODY`] as it runs, `lib.sh` in front: what the script tests check.
const FACTS_THEN_APPLY: &str = concat!(include_str!("scripts/lib.sh"), facts_then_apply_body!());
const REVERT_BODY: &str = include_str!("scripts/revert.sh");
const ADOPT: &str = script_file!("adopt.sh");
const APPLY: &str = script_file!("apply.sh");
const CONFIRM: &str = script_file!("confirm.sh");
const REVERT_NOW: &str = script_file!("revert-now.sh");
const READ_GENERATION: &str = script_file!("read-generation.sh");
const REMOVE: &str = script_file!("remove.sh");
const INSPECT: &str = script_file!("inspect.sh");
const REMOVE_HOST: &str = script_file!("remove-host.sh");
const PING: &str = script_file!("ping.sh");
const REFRESH: &str = script_file!("refresh.sh");
const HOST_KEY: &str = script_file!("host-key.sh");
/// `revert.sh` as an armed apply writes it to the host: it runs there alone, so which service
/// manager it uses is the line in front of it.
const REVERT_SYSTEMD: &str = concat!(
    "#!/bin/sh\nsystemd=yes\n",
    include_str!("scripts/lib.sh"),
    include_str!("scripts/revert.sh")
);
const REVERT_DIRECT: &str = concat!(
    "#!/bin/sh\nsystemd=\n",
    include_str!("scripts/lib.sh"),
    include_str!("scripts/revert.sh")
);

/// Every script wgdeploy runs on hosts, by file name (for the tests: parsing, shellcheck, shells).
pub const ALL_SCRIPTS: [(&str, &str); 16] = [
    ("lib.sh", LIB),
    ("facts.sh", FACTS),
    ("facts.sh then-apply.sh apply.sh", FACTS_THEN_APPLY),
    ("adopt.sh", ADOPT),
    ("apply.sh", APPLY),
    ("confirm.sh", CONFIRM),
    ("revert-now.sh", REVERT_NOW),
    ("read-generation.sh", READ_GENERATION),
    ("remove.sh", REMOVE),
    ("inspect.sh", INSPECT),
    ("remove-host.sh", REMOVE_HOST),
    ("ping.sh", PING),
    ("refresh.sh", REFRESH),
    ("host-key.sh", HOST_KEY),
    ("revert.sh (systemd)", REVERT_SYSTEMD),
    ("revert.sh", REVERT_DIRECT),
];

fn flag(on: bool) -> String {
    if on { "yes".into() } else { String::new() }
}

/// One round trip that gathers everything wgdeploy needs to plan a host.
pub fn facts_script(interface: &InterfaceName) -> Script {
    facts_script_for(interface, false)
}

/// [`facts_script`] that also says since when the host runs its key (`status`'s key age): it
/// reads every kept generation's config, which a survey for a change does not need.
pub fn facts_script_with_key_age(interface: &InterfaceName) -> Script {
    facts_script_for(interface, true)
}

/// Apply's survey: [`facts_script`], then the command waits for its apply step on stdin
/// ([`step_input`]) and runs it, saving the step its own command: sshd opens a new command's
/// stdin only once the command has started, a round trip before the config can follow, and every
/// command is one more login shell on the host. It prints `@@wgdeploy-ready NONCE` ([`ready_marker`])
/// when it waits; stdin closed empty ends it.
pub fn facts_then_apply_script(interface: &InterfaceName, nonce: &str) -> Script {
    let mut args = vec![
        shipped::shipped(LIB).to_owned(),
        shipped::shipped(REVERT_BODY).to_owned(),
        nonce.to_owned(),
        interface.as_str().to_owned(),
        String::new(),
    ];
    args.extend(FORWARDING_SYSCTLS.iter().map(|key| (*key).to_owned()));
    Script::new(FACTS_THEN_APPLY_BODY, args)
}

/// The line [`facts_then_apply_script`] prints when it waits for its step.
pub fn ready_marker(nonce: &str) -> String {
    format!("@@wgdeploy-ready {nonce}\n")
}

/// What [`facts_then_apply_script`] reads to run `step`: apply.sh's arguments as one line of
/// quoted words, then `config` (the step's stdin, read by apply.sh's own `cat`: `read` takes
/// no byte past its line).
pub fn step_input(step: &ApplyStep, config: &[u8]) -> Vec<u8> {
    let revert = match (step.arm.is_some(), step.systemd) {
        (false, _) => "''",
        (true, true) => "\"$revert_systemd\"",
        (true, false) => "\"$revert_direct\"",
    };
    let mut line = String::new();
    for (index, arg) in apply_args(step).iter().enumerate() {
        if !line.is_empty() {
            line.push(' ');
        }
        if index == REVERT_ARG {
            line.push_str(revert);
        } else {
            line.push_str(&quote_on_one_line(arg));
        }
    }
    line.push('\n');
    let mut input = line.into_bytes();
    input.extend_from_slice(config);
    input
}

/// [`quote`], with each newline written as `"$nl"` (a variable then-apply.sh holds) so the word
/// stays on one line.
fn quote_on_one_line(word: &str) -> String {
    word.split('\n')
        .map(quote)
        .collect::<Vec<_>>()
        .join("\"$nl\"")
}

fn facts_script_for(interface: &InterfaceName, key_age: bool) -> Script {
    let mut args = vec![interface.as_str().to_owned(), flag(key_age)];
    args.extend(FORWARDING_SYSCTLS.iter().map(|key| (*key).to_owned()));
    Script::new(FACTS, args)
}

/// What `host-key.sh` does about the host's own key (`keys: on-host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyMode {
    /// Only read it (plan, status, rollback, hosts left out of an apply).
    Read,
    /// Make it when the host has none (apply).
    Create,
    /// Make a pending key beside it (kept if one is pending already) and answer the pending
    /// key's public half (`wgdeploy rotate`).
    Rotate,
}

/// `keys: on-host`: the public half of the host's own key, made first when `create` (apply) and
/// the host has none; with `Rotate`, of its pending key.
pub fn host_key_script(interface: &InterfaceName, mode: HostKeyMode) -> Script {
    let mode = match mode {
        HostKeyMode::Read => "",
        HostKeyMode::Create => "yes",
        HostKeyMode::Rotate => "rotate",
    };
    Script::new(
        HOST_KEY,
        vec![interface.as_str().to_owned(), mode.to_owned()],
    )
}

/// What `host-key.sh` answered: the host's public key, or `None` when it has none yet (a plan);
/// `Err` says what went wrong in words (the script's own reason when it stopped).
pub fn parse_host_key(stdout: &[u8]) -> Result<Option<crate::core::keys::PublicKey>, String> {
    let parsed = crate::remote::facts::split(stdout).map_err(|err| err.to_string())?;
    if let Some((reason, _)) = parsed.section("fail") {
        return Err(reason.trim().to_owned());
    }
    let key = parsed
        .section("public-key")
        .filter(|_| parsed.ended)
        .map(|(key, _)| key.trim())
        .ok_or(
            "the host's answer about its key is incomplete (the script did not run to the end)",
        )?;
    if key == "none" {
        return Ok(None);
    }
    crate::core::keys::PublicKey::from_base64(key)
        .map(Some)
        .ok_or_else(|| "the host's public key is not a base64 32-byte key".to_owned())
}

/// `wgdeploy adopt`: one round trip that reads what a host runs now, so its keys and addresses can
/// be kept. With `keys: local` it is the only script whose answer carries secrets: the private key
/// and the preshared keys are framed by length (they land in a redacting `SecretText`), and they
/// are read by `wg` itself, never named on a command line. A host that keeps its own key
/// (`on_host`) answers with its public half only. Changes nothing on the host.
pub fn adopt_script(interface: &InterfaceName, on_host: bool) -> Script {
    let keys = if on_host { "public" } else { "private" };
    Script::new(ADOPT, vec![interface.as_str().to_owned(), keys.to_owned()])
}

/// What a confirmed change records as the host's new generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRecord {
    pub deployment: String,
    /// `apply` or `rollback`.
    pub kind: &'static str,
    /// `sha256:…` of the inventory file the run planned from.
    pub inventory_digest: String,
    pub version: &'static str,
    /// Generations kept on the host (older ones are deleted).
    pub keep: usize,
}

/// The apply script: lock, compare-and-swap on the config's stamp, atomic write with a backup,
/// reload or restart, forwarding, then the live state for verification. Stops at the first failure
/// with `@@fail REASON` so the caller can say exactly what went wrong. The config itself travels
/// on stdin; `apply.sh` says what each argument is.
pub fn apply_script(step: &ApplyStep) -> Script {
    let mut args = apply_args(step);
    if step.arm.is_some() {
        args[REVERT_ARG] = revert_script(step.systemd).to_owned();
    }
    Script::new(APPLY, args)
}

/// Where apply.sh takes revert.sh's text (REVERT_SH), empty in [`apply_args`].
const REVERT_ARG: usize = 13;

/// apply.sh's arguments for `step`, with REVERT_SH left empty.
fn apply_args(step: &ApplyStep) -> Vec<String> {
    let (sysctl_mode, sysctl_text) = match &step.sysctl_file {
        None => ("keep", String::new()),
        Some(content) if content.is_empty() => ("remove", String::new()),
        Some(content) => ("write", content.clone()),
    };
    let action = match step.action {
        Action::None => "none",
        Action::Syncconf => "syncconf",
        Action::Restart => "restart",
        Action::Up => "up",
    };
    let (token, first, seconds) = match &step.arm {
        // Armed for the step's limit plus the confirm window, so it cannot fire during a slow
        // step; restarted at the confirm window once the step is done.
        Some(arm) => (
            arm.token.clone(),
            (arm.step_seconds.max(1) + arm.seconds.max(1)).to_string(),
            arm.seconds.max(1).to_string(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    let mut args = vec![
        step.interface.as_str().to_owned(),
        step.expected_stamp.clone(),
        step.write_len
            .map(|len| len.to_string())
            .unwrap_or_default(),
        action.to_owned(),
        flag(step.systemd),
        flag(step.enable_unit),
        sysctl_mode.to_owned(),
        sysctl_text,
        token,
        first,
        seconds,
        flag(step.keep_original && step.arm.is_some()),
        env!("CARGO_PKG_VERSION").to_owned(),
        String::new(),
    ];
    if step.action == Action::Syncconf {
        args.extend(
            step.stale_routes
                .iter()
                .map(|route| format!("route={}@{}", route.prefix, route.table)),
        );
    }
    args.extend(step.sysctl_on.iter().map(|key| format!("sysctl={key}")));
    args
}

/// `revert.sh TOKEN [locked]`, written to the host when a step is armed: puts back the config from
/// before the apply TOKEN (and the interface's state: up or not) unless that apply was confirmed or
/// superseded meanwhile. It runs on the host alone, so it is plain `sh` with no wgdeploy around.
pub fn revert_script(systemd: bool) -> &'static str {
    shipped::shipped(if systemd {
        REVERT_SYSTEMD
    } else {
        REVERT_DIRECT
    })
}

/// Run over a fresh SSH connection after an armed step: proves the host is still reachable and,
/// under the lock, either confirms the step (disarms the timer, records a generation) or tells
/// what happened instead: the host already reverted, or the step never finished (revert now).
pub fn confirm_script(
    interface: &InterfaceName,
    systemd: bool,
    token: &str,
    record: &GenerationRecord,
) -> Script {
    Script::new(
        CONFIRM,
        vec![
            interface.as_str().to_owned(),
            flag(systemd),
            token.to_owned(),
            record.deployment.clone(),
            record.kind.to_owned(),
            record.inventory_digest.clone(),
            record.version.to_owned(),
            record.keep.max(1).to_string(),
        ],
    )
}

/// Puts the previous config back at once over the apply step's own session (the step finished but
/// the interface does not run the plan): the armed revert, run now instead of at the timer.
pub fn revert_now_script(interface: &InterfaceName, systemd: bool, token: &str) -> Script {
    Script::new(
        REVERT_NOW,
        vec![
            interface.as_str().to_owned(),
            flag(systemd),
            token.to_owned(),
        ],
    )
}

/// Reads one recorded generation's config (for `rollback`).
pub fn read_generation_script(interface: &InterfaceName, generation: u64) -> Script {
    Script::new(
        READ_GENERATION,
        vec![interface.as_str().to_owned(), generation.to_string()],
    )
}

/// Undoes a first deployment (`apply --atomic` when another host failed): the interface goes down,
/// the config goes, and so do the generations that deployment recorded, since they never stood.
pub fn remove_script(interface: &InterfaceName, systemd: bool, deployment: &str) -> Script {
    Script::new(
        REMOVE,
        vec![
            interface.as_str().to_owned(),
            flag(systemd),
            deployment.to_owned(),
        ],
    )
}

/// Read-only, for `plan`: what decommissioning a removed host's interface would keep (a new or an
/// existing generation) and which forwarding sysctls it would switch off (those only wgdeploy's
/// sysctl.d file turns on). `remove_host_script` decides with the same shell functions.
pub fn inspect_script(interface: &InterfaceName) -> Script {
    let mut args = vec![interface.as_str().to_owned()];
    args.extend(FORWARDING_SYSCTLS.iter().map(|key| (*key).to_owned()));
    Script::new(INSPECT, args)
}

/// Decommissions a removed host's interface, under the same lock as every apply step: drops a
/// pending lock-out revert, keeps the config as the last generation (`record`), takes the interface
/// down (its PostDown hooks run), disables the unit, removes the config, its backup and the
/// sysctl.d file, and switches off the forwarding only that file turned on. Refuses if the config
/// changed since the plan (`expected_stamp`), and leaves everything untouched (`@@not-ours`) when
/// the interface runs another public key than `own_key` (empty: not checked).
pub fn remove_host_script(
    interface: &InterfaceName,
    systemd: bool,
    expected_stamp: &str,
    own_key: &str,
    record: &GenerationRecord,
) -> Script {
    let mut args = vec![
        interface.as_str().to_owned(),
        flag(systemd),
        expected_stamp.to_owned(),
        own_key.to_owned(),
        record.deployment.clone(),
        record.kind.to_owned(),
        record.inventory_digest.clone(),
        record.version.to_owned(),
    ];
    args.extend(FORWARDING_SYSCTLS.iter().map(|key| (*key).to_owned()));
    Script::new(REMOVE_HOST, args)
}

/// Pings every address from the host, all at once: the real reachability behind `status --ping`
/// (`@@no-ping` first when the host has no `ping`).
pub fn ping_script(addresses: &[String]) -> Script {
    Script::new(PING, addresses.to_vec())
}

/// Drops the sessions a host holds with peers that just restarted, by removing those peers and
/// adding them back from the config (`wg syncconf`, guarded as in apply). A restarted peer forgot
/// every session; without this its peers keep encrypting for the dead session until WireGuard's
/// timers give up on it (15 s with traffic, up to minutes when idle), and a NAT-ed host's restarted
/// peer cannot reach it at all meanwhile. Re-added peers with a keepalive handshake at once.
pub fn refresh_script(interface: &InterfaceName, peers: &[String]) -> Script {
    let mut args = vec![interface.as_str().to_owned()];
    args.extend(peers.iter().cloned());
    Script::new(REFRESH, args)
}

#[cfg(test)]
mod tests;
