//! Hosts removed from the inventory are decommissioned, not forgotten.
//!
//! The state remembers, per host an apply (or rollback) reached, the interface it manages there and
//! the SSH settings it used ([`Managed`]). A host the state manages that is no longer in the
//! inventory is *removed*: `plan` shows it as `remove`, `apply` takes its interface down (the
//! config's PostDown hooks remove the FORWARD rules), disables its `wg-quick@` unit, keeps its config
//! as the last generation and removes it, removes its sysctl.d file and switches off a forwarding
//! sysctl that only that file turned on; then the state forgets the host. A removed host that
//! cannot be reached is a failed host and stays in the state. `--keep-removed` leaves such hosts
//! alone (not contacted, kept in the state).
//!
//! The remaining hosts need nothing from here: their configs are planned from the inventory, which
//! no longer lists the host, so their change (a syncconf) drops it as a peer.

use crate::core::change::{Action, ApplyStep};
use crate::core::change::{Class, HostChange};
use crate::core::error::Result;
use crate::core::facts::{Facts, FileFact, SecretText};
use crate::core::forwarding::Families;
use crate::core::model::{InterfaceName, Inventory};
use crate::core::paths::{FORWARDING_SYSCTLS, Paths};
use crate::engine::deploy::SshConnector;
use crate::engine::types::{
    Applied, Connector, HostError, HostReport, Job, Limits, Reporter, Run, Surveyed,
};
use crate::remote::{self, Become, quote};
use crate::store::state::{Managed, RememberedSsh, State};
use crate::transport::Transport;
use crate::transport::ssh::SshTarget;
use std::path::Path;
use std::sync::Arc;

/// How a removed host is reached: its remembered settings, its jump host resolved by name among the
/// inventory's hosts (current settings) or else the remembered ones.
pub fn targets(state: &State, inventory: &Inventory, connector: &SshConnector) -> Vec<SshTarget> {
    state
        .removed(inventory)
        .into_iter()
        .map(|(name, managed)| target(state, connector, name, managed, 0))
        .collect()
}

fn target(
    state: &State,
    connector: &SshConnector,
    name: &str,
    managed: &Managed,
    depth: usize,
) -> SshTarget {
    let ssh = &managed.ssh;
    let jump = ssh.jump.as_deref().filter(|_| depth < 8).and_then(|jump| {
        connector.target_of(jump).cloned().or_else(|| {
            let remembered = state.managed(jump)?;
            Some(target(state, connector, jump, remembered, depth + 1))
        })
    });
    SshTarget {
        label: name.to_owned(),
        host: ssh.host.clone(),
        port: ssh.port,
        user: ssh.user.clone(),
        identity: ssh.identity.clone(),
        jump: jump.map(Box::new),
    }
}

/// What the state remembers of a host reached with `target` for `job`.
pub fn managed_of(job: &Job, target: &SshTarget) -> Managed {
    Managed {
        interface: job.interface.as_str().to_owned(),
        ssh: RememberedSsh {
            host: target.host.clone(),
            port: target.port,
            user: target.user.clone(),
            identity: target.identity.clone(),
            become_: (job.become_ == Become::Sudo).then(|| "sudo".to_owned()),
            jump: target.jump.as_ref().map(|jump| jump.label.clone()),
        },
    }
}

/// The inventory hosts a survey reached (so a run could change them), with how it reached them.
pub fn reached<S>(hosts: &[Surveyed<S>], connector: &SshConnector) -> Vec<(String, Managed)> {
    hosts
        .iter()
        .filter(|host| matches!(&host.outcome, Ok((_, _, change)) if change.class != Class::Remove))
        .filter_map(|host| {
            let target = connector.target_of(&host.job.name)?;
            Some((host.job.name.clone(), managed_of(&host.job, target)))
        })
        .collect()
}

/// What [`settle`] did to the state.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Decommissioned hosts the state forgot.
    pub forgotten: Vec<String>,
    /// Decommissioned hosts kept because another host still in the state is reached through them
    /// (`(jump host, host)`): forgetting them would leave that host unreachable.
    pub kept_as_jump: Vec<(String, String)>,
}

/// After a run: remember how the reached hosts were reached; forget the removed hosts that were
/// decommissioned (not those that failed or were rolled back, nor the jump host of a host the state
/// still holds). Saves the state when it changed.
pub fn settle(
    state: &mut State,
    reached: Vec<(String, Managed)>,
    reports: &[HostReport],
    path: &Path,
) -> Result<Settled> {
    let mut changed = false;
    for (name, managed) in reached {
        changed |= state.remember(&name, managed);
    }
    let mut forget: Vec<String> = reports
        .iter()
        .filter(|report| {
            report.class == Some(Class::Remove) && !report.rolled_back && report.outcome.is_ok()
        })
        .map(|report| report.name.clone())
        .collect();
    let mut settled = Settled::default();
    // Keep a jump host while a host that stays is reached through it (chains: until none is).
    while let Some((index, user)) = forget.iter().enumerate().find_map(|(index, jump)| {
        let (user, _) = state.managed_hosts().find(|(user, managed)| {
            managed.ssh.jump.as_deref() == Some(jump.as_str()) && !forget.iter().any(|f| f == user)
        })?;
        Some((index, user.to_owned()))
    }) {
        settled.kept_as_jump.push((forget.remove(index), user));
    }
    for name in forget {
        if state.forget(&name) {
            changed = true;
            settled.forgotten.push(name);
        }
    }
    if changed {
        state.save(path)?;
    }
    Ok(settled)
}

/// What apply says about the state after [`settle`] (empty when nothing was forgotten or kept).
pub fn settled_text(settled: &Settled) -> String {
    let mut text = String::new();
    if !settled.forgotten.is_empty() {
        text.push_str(&format!(
            "forgotten in the state file: {}\n",
            settled.forgotten.join(", ")
        ));
    }
    for (jump, user) in &settled.kept_as_jump {
        text.push_str(&format!(
            "{jump}: decommissioned, but kept in the state file: {user} is reached through it\n"
        ));
    }
    text
}

/// A removed host to contact.
#[derive(Debug, Clone)]
pub struct RemovedJob {
    pub job: Job,
    /// Why it cannot be contacted at all.
    pub invalid: Option<HostError>,
    /// The inventory host reached the same way (SSH host, port and jump): the same machine under a
    /// new name, so it is not decommissioned, only forgotten.
    pub alias: Option<String>,
}

/// Jobs for the removed hosts to contact: all of them, or those named in `selected`.
pub fn jobs(state: &State, inventory: &Inventory, selected: &[String]) -> Vec<RemovedJob> {
    state
        .removed(inventory)
        .into_iter()
        .filter(|(name, _)| selected.is_empty() || selected.iter().any(|s| s == name))
        .map(|(name, managed)| {
            let become_ = match managed.ssh.become_.as_deref() {
                Some(_) => Become::Sudo,
                None => Become::None,
            };
            // A removed host's job carries only its identity, the private key the state holds for
            // it, so the removal only ever touches an interface that runs that key (a renamed or
            // re-provisioned machine runs another one). Never printed, like every job's config.
            let identity = state
                .private_key(name)
                .map(|key| format!("[Interface]\nPrivateKey = {}\n", key.expose_base64()))
                .unwrap_or_default();
            let job = |interface: InterfaceName| Job {
                name: name.to_owned(),
                interface,
                desired: SecretText::new(identity.clone()),
                forwarding: Families::default(),
                become_,
                keys: Default::default(),
            };
            let alias = crate::store::state::alias_of(inventory, &managed.ssh);
            match InterfaceName::parse(&managed.interface) {
                Ok(interface) => RemovedJob {
                    job: job(interface),
                    invalid: None,
                    alias,
                },
                Err(_) => RemovedJob {
                    job: job(inventory.network.interface.clone()),
                    invalid: Some(HostError::new(format!(
                        "removed from the inventory, but the state file remembers an invalid interface name `{}` for it",
                        crate::core::model::printable(&managed.interface)
                    ))
                    .help("correct or delete the host's entry in the state file")),
                    alias,
                },
            }
        })
        .collect()
}

/// Connects to each removed host, gathers its facts and what decommissioning it would do.
pub async fn survey<C: Connector>(
    connector: Arc<C>,
    jobs: Vec<RemovedJob>,
    limits: Limits,
    reporter: Arc<dyn Reporter>,
) -> Vec<Surveyed<C::Session>> {
    crate::engine::parallel::bounded(jobs, limits.parallel, move |removed| {
        let RemovedJob {
            mut job,
            invalid,
            alias,
        } = removed;
        // The same machine under its new name: its identity is not checked, nothing is touched.
        if alias.is_some() {
            job.desired = SecretText::new(String::new());
        }
        let (connector, reporter) = (connector.clone(), reporter.clone());
        async move {
            let job = match invalid {
                None => job,
                Some(error) => {
                    reporter.finish(&job.name, false, &error.message);
                    return Surveyed {
                        job: Arc::new(job),
                        outcome: Err(error),
                    };
                }
            };
            reporter.update(&job.name, "connecting (removed from the inventory)");
            let work = async {
                let session = connector.connect(&job).await?;
                reporter.update(&job.name, "gathering facts");
                let facts = crate::engine::exec::gather(&session, &job).await?;
                if let Some(alias) = &alias {
                    let change = plan_forget(&job.name, &job.interface, alias, &facts);
                    return Ok((Arc::new(session), facts, change));
                }
                let output = crate::engine::exec::run(&session, &job, &remote::Script::inline(inspect_script(&job.interface)), &[])
                    .await?;
                let inspection = Inspection::parse(&output.stdout)?;
                let change = plan_removal(
                    &job.name,
                    &job.interface,
                    own_key(&job).as_deref(),
                    &facts,
                    &inspection,
                );
                Ok((Arc::new(session), facts, change))
            };
            let outcome = match tokio::time::timeout(limits.connect, work).await {
                Ok(outcome) => outcome,
                Err(_) => Err(HostError::new(format!(
                    "no answer within {} s while connecting and gathering facts",
                    limits.connect.as_secs()
                ))),
            };
            let outcome = outcome.map_err(|error| HostError {
                message: format!(
                    "removed from the inventory, but cannot be decommissioned: {}",
                    error.message
                ),
                help: Some(format!(
                    "{}it stays in the state file until it is decommissioned; bring it back and apply again, or leave it alone with `--keep-removed`",
                    error.help.map(|help| format!("{help}; ")).unwrap_or_default()
                )),
            });
            // What an `--atomic` undo would restore: the forwarding the host had.
            let mut job = job;
            if let Ok((_, facts, _)) = &outcome {
                job.forwarding = families_in(facts.sysctl_file.text().unwrap_or(""));
            }
            match &outcome {
                Ok((_, _, change)) => {
                    reporter.finish(&job.name, true, &change.summary())
                }
                Err(error) => reporter.finish(&job.name, false, &error.message),
            }
            Surveyed {
                job: Arc::new(job),
                outcome,
            }
        }
    })
    .await
}

/// The public key a removed host's job says it ran (see [`jobs`]).
fn own_key(job: &Job) -> Option<String> {
    let config = crate::core::wgconf::parse(Path::new(&job.name), job.desired.expose()).ok()?;
    Some(config.private_key?.public_key().to_base64())
}

/// The public key the host's interface runs: its config's, else the live interface's.
fn running_key(facts: &Facts) -> Option<String> {
    if let Some(text) = facts.config.text() {
        let config = crate::core::wgconf::parse(Path::new("config"), text).ok()?;
        return Some(config.private_key?.public_key().to_base64());
    }
    facts.live.as_ref().map(|live| live.public_key.clone())
}

/// The forwarding a wgdeploy sysctl.d file switches on.
fn families_in(text: &str) -> Families {
    let sets = |key: &str| {
        text.lines()
            .any(|line| line.replace(' ', "") == format!("{key}=1"))
    };
    Families {
        ipv4: sets("net.ipv4.ip_forward"),
        ipv6: sets("net.ipv6.conf.all.forwarding"),
    }
}

/// What the host said about its generations and forwarding, before anything changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// What becomes of the config: `None` when there is none.
    pub generation: Option<KeptAs>,
    pub forwarding: Vec<Verdict>,
}

/// Where the removed config is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptAs {
    /// The newest generation already holds exactly this config.
    Existing(u64),
    /// It is recorded as a new generation.
    New(u64),
}

/// What happens to a forwarding sysctl that wgdeploy's sysctl.d file sets and that is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Only wgdeploy's file turns it on: switched off.
    Off(String),
    /// Something else wants it on too (a file, Docker): left on.
    Keep { key: String, why: String },
}

impl Inspection {
    fn from_parsed(parsed: &crate::remote::facts::Parsed) -> Inspection {
        let generation = parsed.section("generation").and_then(|(rest, _)| {
            let (what, number) = rest.split_once(' ')?;
            let number = number.trim().parse().ok()?;
            match what {
                "kept" => Some(KeptAs::Existing(number)),
                "new" => Some(KeptAs::New(number)),
                _ => None,
            }
        });
        let forwarding = parsed
            .lines("forward")
            .iter()
            .filter_map(|line| {
                let mut words = line.splitn(3, ' ');
                let verdict = words.next()?;
                let key = words.next()?;
                // Only the keys wgdeploy manages; the script prints nothing else.
                let key = FORWARDING_SYSCTLS.iter().find(|known| **known == key)?;
                match verdict {
                    "off" => Some(Verdict::Off((*key).to_owned())),
                    "keep" => Some(Verdict::Keep {
                        key: (*key).to_owned(),
                        why: words.next().unwrap_or("").to_owned(),
                    }),
                    _ => None,
                }
            })
            .collect();
        Inspection {
            generation,
            forwarding,
        }
    }

    fn parse(stdout: &[u8]) -> std::result::Result<Inspection, HostError> {
        let parsed = crate::remote::facts::split(stdout).map_err(HostError::from)?;
        if !parsed.ended {
            return Err(HostError::new(
                "the host's answer about its generations and forwarding was cut short",
            ));
        }
        Ok(Inspection::from_parsed(&parsed))
    }
}

/// A removed host that is in the inventory under another name (`alias`): nothing on it changes,
/// the state only forgets the old name.
pub fn plan_forget(
    host: &str,
    interface: &InterfaceName,
    alias: &str,
    facts: &Facts,
) -> HostChange {
    HostChange {
        class: Class::Remove,
        reasons: vec![format!(
            "no longer in the inventory, but reached like {alias} (same SSH host, port and jump host): the same machine under a new name? Left untouched ({alias}'s own change applies there); {host} is only forgotten in the state file"
        )],
        write: false,
        diff: None,
        forwarding: Vec::new(),
        unconfirmed: false,
        replaces_unmanaged: false,
        step: untouched_step(interface, facts),
    }
}

/// The step of a removed host, which changes nothing through the apply script (the removal has
/// its own script): only its stamp and service manager matter.
fn untouched_step(interface: &InterfaceName, facts: &Facts) -> ApplyStep {
    ApplyStep {
        interface: interface.clone(),
        write_len: None,
        expected_stamp: facts.stamp.clone(),
        action: Action::None,
        systemd: facts.systemd,
        enable_unit: false,
        sysctl_file: None,
        sysctl_on: Vec::new(),
        stale_routes: Vec::new(),
        keep_original: false,
        arm: None,
    }
}

/// The removal of one host, in words, as `plan` shows it (pure: facts and inspection in, change out).
pub fn plan_removal(
    host: &str,
    interface: &InterfaceName,
    own_key: Option<&str>,
    facts: &Facts,
    inspection: &Inspection,
) -> HostChange {
    let name = interface.as_str();
    let paths = Paths::new(interface);
    let step = untouched_step(interface, facts);
    if let (Some(own), Some(running)) = (own_key, running_key(facts))
        && own != running
    {
        return HostChange {
            class: Class::Remove,
            reasons: vec![format!(
                "no longer in the inventory, but `{name}` there runs another key than {host}'s: it is not {host} any more (renamed, or re-provisioned?); left untouched, {host} is only forgotten in the state file"
            )],
            write: false,
            diff: None,
            forwarding: Vec::new(),
            unconfirmed: false,
            replaces_unmanaged: false,
            step,
        };
    }
    let config = facts.config.text();
    let mut reasons =
        vec!["no longer in the inventory: decommission it, then forget it in the state file (its key, addresses and SSH settings)".to_owned()];
    if facts.link_present {
        let how = if facts.systemd {
            format!("`systemctl stop wg-quick@{name}`")
        } else {
            format!("`wg-quick down {name}`")
        };
        let forward_hooks = config.is_some_and(|text| {
            text.lines().any(|line| {
                let line = line.trim_start();
                line.starts_with("PostDown") && line.contains("FORWARD")
            })
        });
        let hooks = if forward_hooks {
            "; its PostDown hooks delete the FORWARD rules its PostUp added"
        } else {
            ""
        };
        reasons.push(format!("take `{name}` down ({how}){hooks}"));
    }
    if facts.systemd && facts.unit_enabled {
        reasons.push(format!(
            "disable `wg-quick@{name}` so it does not start at boot"
        ));
    }
    let generations = format!("{}/generations", paths.state);
    match (config, inspection.generation) {
        (Some(_), Some(KeptAs::Existing(n))) => reasons.push(format!(
            "remove {} (generation {n} in {generations} already holds it: `rollback` can restore it)",
            paths.config
        )),
        (Some(_), Some(KeptAs::New(n))) => reasons.push(format!(
            "remove {}, first kept as generation {n} in {generations} (`rollback` can restore it)",
            paths.config
        )),
        (Some(_), None) => reasons.push(format!("remove {}", paths.config)),
        (None, _) => {}
    }
    if let Some(token) = &facts.armed {
        reasons.push(format!(
            "drop the pending lock-out revert of apply {token} (it would put the config back)"
        ));
    }
    let mut forwarding = Vec::new();
    if facts.sysctl_file != FileFact::Absent {
        forwarding.push(format!("remove {}", paths.sysctl_file));
    }
    for verdict in &inspection.forwarding {
        forwarding.push(match verdict {
            Verdict::Off(key) => format!(
                "{key}: 1 → 0 (only wgdeploy's {} turns it on)",
                paths.sysctl_file
            ),
            Verdict::Keep { key, why } if why == "docker0" => {
                format!("{key} stays 1 (Docker's docker0 interface needs it)")
            }
            Verdict::Keep { key, why } => format!("{key} stays 1 ({why} sets it too)"),
        });
    }
    let nothing_left = !facts.link_present
        && config.is_none()
        && facts.sysctl_file == FileFact::Absent
        && !(facts.systemd && facts.unit_enabled);
    if nothing_left {
        reasons.push(format!(
            "nothing of `{name}` is left on the host: wgdeploy only forgets it"
        ));
    }
    let diff = config.map(|text| removed_diff(host, name, text));
    HostChange {
        class: Class::Remove,
        reasons,
        write: false,
        diff,
        forwarding,
        unconfirmed: false,
        replaces_unmanaged: false,
        step,
    }
}

/// The whole config as removed lines, keys redacted.
fn removed_diff(host: &str, interface: &str, current: &str) -> String {
    let old = crate::core::change::redact(current, None);
    similar::TextDiff::from_lines(old.as_str(), "")
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{host}:/etc/wireguard/{interface}.conf (live)"),
            "/dev/null (removed)",
        )
        .to_string()
}

/// Decommissions a surveyed removed host over its session. Returns the outcome and notes.
pub async fn decommission<T: Transport>(
    session: &T,
    job: &Job,
    facts: &Facts,
    limits: Limits,
    run: &Run,
) -> (std::result::Result<Applied, HostError>, Vec<String>) {
    if job.desired.expose().is_empty() {
        // plan_forget: in the inventory under another name; nothing to do on the host (so nothing
        // for `--atomic` to undo either).
        let applied = Applied {
            changed: false,
            live: facts.live.clone(),
            generation: None,
            now: facts.now,
        };
        let note =
            "left untouched (the same machine is in the inventory under another name); forgotten";
        return (Ok(applied), vec![note.to_owned()]);
    }
    let mut record = run.record();
    record.kind = "remove";
    let own = own_key(job).unwrap_or_default();
    let script = remote::Script::inline(remove_host_script(
        &job.interface,
        facts.systemd,
        &facts.stamp,
        &own,
        &record,
    ));
    let output = match tokio::time::timeout(
        limits.apply,
        crate::engine::exec::run(session, job, &script, &[]),
    )
    .await
    {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return (Err(error), Vec::new()),
        Err(_) => {
            return (
                Err(HostError::new(format!(
                    "no answer from the removal within {} s; the host stays in the state file: run apply again",
                    limits.apply.as_secs()
                ))),
                Vec::new(),
            );
        }
    };
    let parsed = match crate::remote::facts::split(&output.stdout) {
        Ok(parsed) => parsed,
        Err(err) => return (Err(HostError::from(err)), Vec::new()),
    };
    let log = parsed.lines("log");
    if let Some((reason, _)) = parsed.section("fail") {
        let mut error = HostError::new(format!("{reason}; the host stays in the state file"));
        if !log.is_empty() {
            let tail: Vec<&str> = log.iter().rev().take(8).rev().map(String::as_str).collect();
            error = error.help(format!("the host said:\n  {}", tail.join("\n  ")));
        }
        return (Err(error), Vec::new());
    }
    if !parsed.ended || parsed.section("done").is_none() {
        return (
            Err(HostError::new(
                "the removal stopped before its end; the host stays in the state file: run apply again",
            )),
            Vec::new(),
        );
    }
    let mut notes = Vec::new();
    if parsed.section("not-ours").is_some() {
        notes.push(format!(
            "left untouched: `{}` there runs another key than {}'s (renamed, or re-provisioned?)",
            job.interface.as_str(),
            job.name
        ));
        let applied = Applied {
            changed: false,
            live: facts.live.clone(),
            generation: None,
            now: facts.now,
        };
        return (Ok(applied), notes);
    }
    let inspection = Inspection::from_parsed(&parsed);
    let mut done = vec![format!("`{}` down", job.interface.as_str())];
    if parsed.section("disabled").is_some() {
        done.push("unit disabled".to_owned());
    }
    match inspection.generation {
        Some(KeptAs::Existing(n) | KeptAs::New(n)) => {
            done.push(format!("config removed (kept as generation {n})"))
        }
        None => done.push("no config".to_owned()),
    }
    if parsed.section("removed-sysctl-file").is_some() {
        done.push("sysctl.d file removed".to_owned());
    }
    for key in parsed.lines("switched-off") {
        done.push(format!("{key} = 0"));
    }
    if parsed.section("link-deleted").is_some() {
        notes.push(
            "`wg-quick down` failed, so the link was deleted: its PostDown hooks may not have run"
                .to_owned(),
        );
    }
    notes.insert(0, format!("decommissioned: {}", done.join(", ")));
    let applied = Applied {
        changed: true,
        live: None,
        generation: None,
        now: facts.now,
    };
    (Ok(applied), notes)
}

/// Shell functions both removal scripts share, so `plan` says exactly what `apply` then does:
/// `decide_generation` sets `gen` to `kept N`, `new N` or empty (no config), and `decide_forwarding`
/// prints `off KEY` for each forwarding sysctl that is on and that only wgdeploy's sysctl.d file
/// sets, `keep KEY WHY` for one something else sets too.
fn decisions(interface: &InterfaceName) -> String {
    let paths = Paths::new(interface);
    let config = quote(&paths.config);
    let ours = quote(&paths.sysctl_file);
    let gens = quote(&format!("{}/generations", paths.state));
    let mut forwarding = String::new();
    for key in FORWARDING_SYSCTLS {
        // `net.ipv4.ip_forward = 1` (sysctl.d also accepts slashes and a leading `-`).
        let pattern = quote(&format!(
            "^[[:space:]]*-?{}[[:space:]]*=[[:space:]]*1[[:space:]]*$",
            key.replace('.', "[./]")
        ));
        let proc = quote(&format!("/proc/sys/{}", key.replace('.', "/")));
        let docker = if key == "net.ipv4.ip_forward" {
            "elif [ -e /sys/class/net/docker0 ]; then echo \"keep $key docker0\"\n    "
        } else {
            ""
        };
        forwarding.push_str(&format!(
            r#"  key={key}
  if [ -f {ours} ] && grep -Eq {pattern} {ours}; then
    value=; [ -r {proc} ] && read -r value < {proc}
    if [ "$value" = 1 ]; then
      other=$(grep -lE {pattern} /etc/sysctl.conf /etc/sysctl.d/*.conf /run/sysctl.d/*.conf /usr/local/lib/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf 2>/dev/null | grep -vxF {ours} | head -n 1)
    if [ -n "$other" ]; then echo "keep $key $other"
    {docker}else echo "off $key"; fi
    fi
  fi
"#
        ));
    }
    format!(
        r#"decide_generation() {{
  last=$(ls {gens} 2>/dev/null | sed -n 's/^\([0-9][0-9]*\)\.meta$/\1/p' | sort -n | tail -n 1)
  if [ ! -f {config} ]; then gen=
  elif [ -n "$last" ] && cmp -s {config} {gens}/"$last.conf"; then gen="kept $last"
  else gen="new $(( ${{last:-0}} + 1 ))"; fi
}}
decide_forwarding() {{
{forwarding}}}
"#
    )
}

/// Read-only: what decommissioning would keep and switch off (for `plan`).
pub fn inspect_script(interface: &InterfaceName) -> String {
    format!(
        r#"{decisions}
decide_generation
printf '@@generation %s\n' "$gen"
echo '@@forward'
decide_forwarding
echo '@@end'
"#,
        decisions = decisions(interface)
    )
}

/// Decommissions the interface, under the same lock as every apply step: drops a pending lock-out
/// revert, keeps the config as the last generation, takes the interface down (its PostDown hooks
/// run), disables the unit, removes the config, its backup and the sysctl.d file, and switches off
/// the forwarding only that file turned on. Refuses if the config changed since the plan, and leaves
/// everything untouched (`@@not-ours`) when the interface runs another key than `own_key` (the
/// removed host's public key): the machine is someone else now.
pub fn remove_host_script(
    interface: &InterfaceName,
    systemd: bool,
    expected_stamp: &str,
    own_key: &str,
    record: &remote::GenerationRecord,
) -> String {
    let paths = Paths::new(interface);
    let name = interface.as_str();
    let iface = quote(name);
    let config = quote(&paths.config);
    let backup = quote(&paths.backup);
    let lock = quote(&paths.lock);
    let state = quote(&paths.state);
    let ours = quote(&paths.sysctl_file);
    let gens = quote(&format!("{}/generations", paths.state));
    let root = quote(crate::core::paths::STATE_ROOT);
    let log = quote(&format!("{}/.{name}.wgdeploy.log", paths.dir));
    let unit = quote(&format!("wg-quick@{name}"));
    let expected = quote(expected_stamp);
    let own = quote(own_key);
    let deployment = quote(&record.deployment);
    let kind = quote(record.kind);
    let digest = quote(&record.inventory_digest);
    let version = quote(record.version);
    let stop = if systemd {
        format!(
            "if systemctl is-active --quiet {unit} 2>/dev/null; then systemctl stop {unit} > {log} 2>&1 9>&- || {{ echo '@@log'; cat {log}; fail \"systemctl stop wg-quick@{name} failed\"; }}; fi\n"
        )
    } else {
        String::new()
    };
    let disable = if systemd {
        format!(
            "if systemctl is-enabled --quiet {unit} 2>/dev/null; then systemctl disable {unit} > /dev/null 2>&1 9>&- || fail \"systemctl disable wg-quick@{name} failed\"; echo '@@disabled'; fi\n"
        )
    } else {
        String::new()
    };
    let mut switch_off = String::new();
    for key in FORWARDING_SYSCTLS {
        let setting = quote(&format!("{key}=0"));
        switch_off.push_str(&format!(
            "case \"$forwarding\" in *\"off {key}\"*) sysctl -q -w {setting} || fail \"cannot set {key}=0\"; echo {key} ;; esac\n"
        ));
    }
    format!(
        r#"fail() {{ printf '@@fail %s\n' "$*"; exit 1; }}
stamp() {{ stat -c '%i %s %y' "$1" 2>/dev/null || echo absent; }}
umask 077
{decisions}
mkdir -p /etc/wireguard || fail "cannot create /etc/wireguard"
exec 9>>{lock} || fail "cannot open the lock file {lock}"
flock -w 30 9 || fail "another wgdeploy run holds the lock on {name} (waited 30 s)"
[ "$(stamp {config})" = {expected} ] || fail "{name}.conf changed on the host since the plan was made; run wgdeploy again"
# Only the host wgdeploy deployed under this name is decommissioned: the key must be the one it gave it
# (derived on the host; the private key never leaves it).
if [ -f {config} ]; then running=$(sed -n 's/^[[:space:]]*PrivateKey[[:space:]]*=[[:space:]]*//p' {config} | head -n 1 | wg pubkey 2>/dev/null)
elif ip link show dev {iface} >/dev/null 2>&1; then running=$(wg show {iface} public-key 2>/dev/null)
else running={own}; fi
if [ -n {own} ] && [ "$running" != {own} ]; then echo '@@not-ours'; echo '@@done remove'; echo '@@end'; exit 0; fi
decide_generation
forwarding=$(decide_forwarding)
# A pending lock-out revert would put the config back: with nothing armed its timer does nothing.
rm -f {state}/armed {state}/armed.conf {state}/armed.up {state}/armed.pid {state}/applied
case $gen in
  new\ *)
    n=${{gen#new }}
    mkdir -p {gens} && chmod 700 {root} {state} {gens} || fail "cannot create {gens}"
    {{ cp {config} {gens}/"$n.conf.tmp" && chmod 600 {gens}/"$n.conf.tmp" && mv -f {gens}/"$n.conf.tmp" {gens}/"$n.conf" &&
      printf 'deployment=%s\nkind=%s\ntime=%s\ninventory=%s\nversion=%s\n' {deployment} {kind} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" {digest} {version} > {gens}/"$n.meta.tmp" &&
      mv -f {gens}/"$n.meta.tmp" {gens}/"$n.meta"; }} || fail "cannot keep {name}.conf as generation $n in {gens}"
    ;;
esac
printf '@@generation %s\n' "$gen"
{stop}if ip link show dev {iface} >/dev/null 2>&1; then
  if [ -f {config} ]; then setsid -w wg-quick down {iface} < /dev/null > {log} 2>&1 9>&- || {{ echo '@@log'; cat {log}; }}; fi
  if ip link show dev {iface} >/dev/null 2>&1; then ip link del dev {iface} || fail "cannot take {name} down"; echo '@@link-deleted'; fi
fi
{disable}rm -f {config} {backup} {log} || fail "cannot remove {config}"
if [ -e {ours} ]; then rm -f {ours} || fail "cannot remove {ours}"; echo '@@removed-sysctl-file'; fi
echo '@@switched-off'
{switch_off}echo '@@done remove'
echo '@@end'
"#,
        decisions = decisions(interface)
    )
}

/// Adds the removed hosts to a surveyed fleet (unless `keep`): `plan` and `apply` show and
/// decommission them with the rest. Returns a line for each removed host left alone (`keep`, or not
/// selected by `--hosts`), so none is passed over silently.
pub fn add_removed(
    fleet: &mut crate::engine::fleet::Fleet,
    keep: bool,
    reporter: Arc<dyn Reporter>,
) -> String {
    let inventory = &fleet.deployment.inventory;
    let selected = &fleet.connection.hosts;
    let mut left = String::new();
    for (name, _) in fleet.state.removed(inventory) {
        let why = if keep {
            "--keep-removed"
        } else if !selected.is_empty() && !selected.iter().any(|s| s == name) {
            "not selected by --hosts"
        } else {
            continue;
        };
        left.push_str(&format!(
            "  {name}: removed from the inventory, left alone ({why}); still in the state file\n"
        ));
    }
    if keep {
        return left;
    }
    let jobs = jobs(&fleet.state, inventory, selected);
    if jobs.is_empty() {
        return left;
    }
    let base = SshConnector::new(inventory, fleet.connection.ssh.clone());
    let extra = targets(&fleet.state, inventory, &base);
    let connector = Arc::new(base.with_targets(extra));
    let surveyed =
        fleet
            .runtime
            .block_on(survey(connector, jobs, fleet.connection.limits, reporter));
    fleet.hosts.extend(surveyed);
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::PrivateKey;
    use crate::transport::fake::{FakeTransport, ok};
    use std::path::PathBuf;
    use std::time::Duration;

    fn wg0() -> InterfaceName {
        InterfaceName::parse("wg0").unwrap()
    }

    fn record() -> remote::GenerationRecord {
        remote::GenerationRecord {
            deployment: "20261130-233000-abcd".into(),
            kind: "remove",
            inventory_digest: "sha256:00".into(),
            version: "0.1.0",
            keep: 10,
        }
    }

    fn config(key: &PrivateKey) -> String {
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = 100.64.0.5/24\nListenPort = 51820\nPostUp = sysctl -q -w net.ipv4.ip_forward=1\nPostUp = iptables -C FORWARD -i wg0 -o wg0 -j ACCEPT 2>/dev/null || iptables -I FORWARD -i wg0 -o wg0 -j ACCEPT\nPostDown = iptables -D FORWARD -i wg0 -o wg0 -j ACCEPT 2>/dev/null || true\n\n[Peer]\n# Name = relay1\nPublicKey = {}\nAllowedIPs = 100.64.0.1/32\n",
            key.expose_base64(),
            PrivateKey::from_bytes([9; 32]).public_key().to_base64()
        )
    }

    const SYSCTL_FILE: &str = "# Written by wgdeploy: wg0 forwards packets between WireGuard peers.\nnet.ipv4.ip_forward = 1\n";

    /// The public key of `PrivateKey::from_bytes([byte; 32])`.
    fn public(byte: u8) -> String {
        PrivateKey::from_bytes([byte; 32]).public_key().to_base64()
    }

    /// The key a removed host's job carries (its identity from the state).
    fn key_of(job: &Job) -> PrivateKey {
        crate::core::wgconf::parse(Path::new("job"), job.desired.expose())
            .unwrap()
            .private_key
            .unwrap()
    }

    fn facts_output(config: Option<&str>, sysctl_file: Option<&str>, link: bool) -> String {
        let frame = |name: &str, text: Option<&str>| match text {
            Some(text) => format!("@@{name} {}\n{text}\n", text.len()),
            None => format!("@@{name} absent\n"),
        };
        format!(
            "@@wgdeploy-facts 1\n@@user root\n@@os\nDebian\n@@tools\nwg\nwg-quick\nflock\n@@systemd\n@@dir\nok\n@@stamp 1 2 3\n{}{}@@now 100\n@@armed \n@@reverted \n@@generations\ngeneration=2\ndeployment=20261130-220000-aaaa\nkind=apply\n@@sysctl\nnet.ipv4.ip_forward=1\n@@link\n{}@@dump\n@@end\n",
            frame("config", config),
            frame("sysctl-file", sysctl_file),
            if link { "present\n" } else { "" }
        )
    }

    fn assert_parses(name: &str, script: &str) {
        let output = std::process::Command::new("sh")
            .args(["-n", "-c", script])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name} does not parse: {}\n{script}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn the_removal_scripts_parse_in_sh() {
        assert_parses("inspect", &inspect_script(&wg0()));
        for systemd in [false, true] {
            assert_parses(
                "remove",
                &remove_host_script(&wg0(), systemd, "1 2 3", "KEY=", &record()),
            );
        }
        let script = remove_host_script(&wg0(), true, "1 2 3", "KEY=", &record());
        assert!(script.contains("systemctl stop wg-quick@wg0"));
        assert!(script.contains("systemctl disable wg-quick@wg0"));
        assert!(script.contains("flock -w 30 9"));
        assert!(script.contains("exec 9>>/etc/wireguard/.wg0.wgdeploy.lock"));
        // Taken down while the config is still there (so its PostDown hooks can run), then removed.
        assert!(
            script.find("wg-quick down wg0").unwrap()
                < script.find("rm -f /etc/wireguard/wg0.conf").unwrap()
        );
    }

    /// The paths the removal scripts touch, moved under `root` so they run for real in a test.
    const HOST_PATHS: [&str; 10] = [
        "/usr/local/lib/sysctl.d",
        "/usr/lib/sysctl.d",
        "/lib/sysctl.d",
        "/run/sysctl.d",
        "/etc/sysctl.conf",
        "/etc/sysctl.d",
        "/etc/wireguard",
        "/var/lib/wgdeploy",
        "/proc/sys",
        "/sys/class/net",
    ];

    fn relocate(script: &str, root: &Path) -> String {
        let mut text = script.to_owned();
        for (i, path) in HOST_PATHS.iter().enumerate() {
            text = text.replace(path, &format!("\u{1}{i}\u{1}"));
        }
        for (i, path) in HOST_PATHS.iter().enumerate() {
            text = text.replace(
                &format!("\u{1}{i}\u{1}"),
                &format!("{}{path}", root.display()),
            );
        }
        text
    }

    /// A host's file tree under a temp dir, with fake `ip`, `wg-quick` and `sysctl` acting on it.
    struct FakeHost {
        _dir: tempfile::TempDir,
        root: PathBuf,
        path: String,
    }

    impl FakeHost {
        fn new(config: &str) -> FakeHost {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_owned();
            for sub in [
                "etc/wireguard",
                "etc/sysctl.d",
                "proc/sys/net/ipv4",
                "proc/sys/net/ipv6/conf/all",
                "sys/class/net/wg0",
                "var/lib/wgdeploy",
                "bin",
            ] {
                std::fs::create_dir_all(root.join(sub)).unwrap();
            }
            std::fs::write(root.join("etc/wireguard/wg0.conf"), config).unwrap();
            std::fs::write(root.join("etc/wireguard/wg0.conf.wgdeploy-prev"), config).unwrap();
            std::fs::write(root.join("etc/sysctl.d/99-wgdeploy-wg0.conf"), SYSCTL_FILE).unwrap();
            std::fs::write(root.join("proc/sys/net/ipv4/ip_forward"), "1\n").unwrap();
            let keys: String = [1u8, 2]
                .iter()
                .map(|byte| {
                    let key = PrivateKey::from_bytes([*byte; 32]);
                    format!("{} {}\n", key.expose_base64(), key.public_key().to_base64())
                })
                .collect();
            std::fs::write(root.join("keys"), keys).unwrap();
            std::fs::write(root.join("proc/sys/net/ipv6/conf/all/forwarding"), "0\n").unwrap();
            let r = root.display();
            let fakes = [
                (
                    "ip",
                    format!(
                        "#!/bin/sh\n# ip link show dev X | ip link del dev X\n[ -e {r}/sys/class/net/$4 ] || exit 1\n[ \"$2\" = del ] && rm -rf {r}/sys/class/net/$4\nexit 0\n"
                    ),
                ),
                (
                    "wg-quick",
                    format!(
                        "#!/bin/sh\n[ \"$1\" = down ] && [ -f {r}/etc/wireguard/$2.conf ] && echo postdown-ran > {r}/postdown && rm -rf {r}/sys/class/net/$2\n"
                    ),
                ),
                (
                    "wg",
                    format!(
                        "#!/bin/sh\n# wg pubkey (from the test's key table) | wg show IFACE public-key\ncase $1 in\n  pubkey) read -r key; sed -n \"s|^$key ||p\" {r}/keys ;;\n  show) cat {r}/live-key ;;\nesac\n"
                    ),
                ),
                (
                    "systemctl",
                    format!(
                        "#!/bin/sh\n# systemctl is-active|is-enabled --quiet UNIT | stop|disable UNIT\ncase $1 in\n  is-active) [ -e {r}/sys/class/net/wg0 ] ;;\n  stop) [ -f {r}/etc/wireguard/wg0.conf ] && echo postdown-ran > {r}/postdown; rm -rf {r}/sys/class/net/wg0 ;;\n  is-enabled) [ -e {r}/enabled ] ;;\n  disable) rm -f {r}/enabled ;;\n  *) exit 1 ;;\nesac\n"
                    ),
                ),
                (
                    "sysctl",
                    format!(
                        "#!/bin/sh\nkv=$3; key=${{kv%%=*}}; printf '%s\\n' \"${{kv#*=}}\" > {r}/proc/sys/$(echo \"$key\" | tr . /)\n"
                    ),
                ),
            ];
            for (name, body) in fakes {
                let file = root.join("bin").join(name);
                std::fs::write(&file, body).unwrap();
                std::fs::set_permissions(
                    &file,
                    std::os::unix::fs::PermissionsExt::from_mode(0o755),
                )
                .unwrap();
            }
            let path = format!(
                "{}:{}",
                root.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            );
            FakeHost {
                _dir: dir,
                root,
                path,
            }
        }

        fn run(&self, script: &str) -> crate::remote::facts::Parsed {
            let output = std::process::Command::new("sh")
                .args(["-c", &relocate(script, &self.root)])
                .env("PATH", &self.path)
                .output()
                .unwrap();
            crate::remote::facts::split(&output.stdout).unwrap()
        }

        fn stamp(&self) -> String {
            let output = std::process::Command::new("stat")
                .args(["-c", "%i %s %y"])
                .arg(self.root.join("etc/wireguard/wg0.conf"))
                .output()
                .unwrap();
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        }

        fn file(&self, path: &str) -> Option<String> {
            std::fs::read_to_string(self.root.join(path)).ok()
        }
    }

    #[test]
    fn a_forwarding_host_is_decommissioned_in_a_real_sh() {
        decommissioned_in_a_real_sh(false);
    }

    #[test]
    fn a_systemd_host_is_stopped_and_disabled_in_a_real_sh() {
        decommissioned_in_a_real_sh(true);
    }

    fn decommissioned_in_a_real_sh(systemd: bool) {
        let config = config(&PrivateKey::from_bytes([1; 32]));
        let host = FakeHost::new(&config);
        std::fs::write(host.root.join("enabled"), "").unwrap();
        let inspection = Inspection::from_parsed(&host.run(&inspect_script(&wg0())));
        assert_eq!(
            inspection,
            Inspection {
                generation: Some(KeptAs::New(1)),
                forwarding: vec![Verdict::Off("net.ipv4.ip_forward".into())],
            }
        );
        // A stale plan is refused: nothing changes.
        let refused = host.run(&remove_host_script(
            &wg0(),
            systemd,
            "0 0 0",
            &public(1),
            &record(),
        ));
        assert!(
            refused
                .section("fail")
                .unwrap()
                .0
                .contains("changed on the host")
        );
        assert!(host.file("etc/wireguard/wg0.conf").is_some());

        let parsed = host.run(&remove_host_script(
            &wg0(),
            systemd,
            &host.stamp(),
            &public(1),
            &record(),
        ));
        assert!(
            parsed.ended && parsed.section("done").is_some(),
            "{parsed:?}"
        );
        assert_eq!(parsed.section("disabled").is_some(), systemd);
        assert_eq!(
            host.file("enabled").is_none(),
            systemd,
            "only systemd's unit is disabled"
        );
        assert!(
            parsed.section("link-deleted").is_none(),
            "taken down properly"
        );
        assert_eq!(
            host.file("var/lib/wgdeploy/wg0/generations/1.conf")
                .as_deref(),
            Some(config.as_str()),
            "the config is kept as the last generation"
        );
        let meta = host
            .file("var/lib/wgdeploy/wg0/generations/1.meta")
            .unwrap();
        assert!(
            meta.contains("deployment=20261130-233000-abcd\nkind=remove\n"),
            "{meta}"
        );
        assert_eq!(host.file("postdown").as_deref(), Some("postdown-ran\n"));
        assert!(
            !host.root.join("sys/class/net/wg0").exists(),
            "the link is gone"
        );
        for gone in [
            "etc/wireguard/wg0.conf",
            "etc/wireguard/wg0.conf.wgdeploy-prev",
            "etc/sysctl.d/99-wgdeploy-wg0.conf",
        ] {
            assert!(host.file(gone).is_none(), "{gone} is still there");
        }
        assert_eq!(
            host.file("proc/sys/net/ipv4/ip_forward").as_deref(),
            Some("0\n")
        );
        assert_eq!(
            host.file("proc/sys/net/ipv6/conf/all/forwarding")
                .as_deref(),
            Some("0\n")
        );
        assert_eq!(parsed.lines("switched-off"), ["net.ipv4.ip_forward"]);
    }

    #[test]
    fn forwarding_another_file_wants_stays_on_and_a_kept_config_is_not_recorded_twice() {
        let config = config(&PrivateKey::from_bytes([1; 32]));
        let host = FakeHost::new(&config);
        let gens = host.root.join("var/lib/wgdeploy/wg0/generations");
        std::fs::create_dir_all(&gens).unwrap();
        std::fs::write(gens.join("3.conf"), &config).unwrap();
        std::fs::write(gens.join("3.meta"), "deployment=d3\nkind=apply\n").unwrap();
        std::fs::write(
            host.root.join("etc/sysctl.d/50-router.conf"),
            "net/ipv4/ip_forward=1\n",
        )
        .unwrap();
        let inspection = Inspection::from_parsed(&host.run(&inspect_script(&wg0())));
        let other = format!("{}/etc/sysctl.d/50-router.conf", host.root.display());
        assert_eq!(
            inspection,
            Inspection {
                generation: Some(KeptAs::Existing(3)),
                forwarding: vec![Verdict::Keep {
                    key: "net.ipv4.ip_forward".into(),
                    why: other
                }],
            }
        );
        let parsed = host.run(&remove_host_script(
            &wg0(),
            false,
            &host.stamp(),
            &public(1),
            &record(),
        ));
        assert!(parsed.section("done").is_some());
        assert!(!gens.join("4.meta").exists());
        assert_eq!(
            host.file("proc/sys/net/ipv4/ip_forward").as_deref(),
            Some("1\n")
        );
        assert!(host.file("etc/sysctl.d/99-wgdeploy-wg0.conf").is_none());
    }

    #[test]
    fn the_plan_says_what_happens_and_shows_no_key() {
        let key = PrivateKey::from_bytes([1; 32]);
        let text = facts_output(Some(&config(&key)), Some(SYSCTL_FILE), true);
        let facts = crate::remote::facts::parse(text.as_bytes()).unwrap();
        let inspection = Inspection {
            generation: Some(KeptAs::Existing(2)),
            forwarding: vec![Verdict::Off("net.ipv4.ip_forward".into())],
        };
        let other = plan_removal("relay2", &wg0(), Some(&public(2)), &facts, &inspection);
        assert_eq!(other.class, Class::Remove);
        assert!(
            other.reasons[0].contains("runs another key than relay2's")
                && other.diff.is_none()
                && other.forwarding.is_empty(),
            "{other:?}"
        );
        let change = plan_removal("relay2", &wg0(), Some(&public(1)), &facts, &inspection);
        assert_eq!(change.class, Class::Remove);
        assert!(!change.is_empty());
        let reasons = change.reasons.join("\n");
        assert!(
            reasons.contains(
                "take `wg0` down (`wg-quick down wg0`); its PostDown hooks delete the FORWARD rules"
            ),
            "{reasons}"
        );
        assert!(
            reasons.contains("generation 2 in /var/lib/wgdeploy/wg0/generations already holds it"),
            "{reasons}"
        );
        assert_eq!(
            change.forwarding,
            [
                "remove /etc/sysctl.d/99-wgdeploy-wg0.conf",
                "net.ipv4.ip_forward: 1 → 0 (only wgdeploy's /etc/sysctl.d/99-wgdeploy-wg0.conf turns it on)"
            ]
        );
        let diff = change.diff.unwrap();
        assert!(
            diff.contains("-PrivateKey = (redacted)") && !diff.contains(&key.expose_base64()),
            "{diff}"
        );
        assert!(diff.contains("+++ /dev/null (removed)"));
    }

    struct Fleet;

    impl Connector for Fleet {
        type Session = FakeTransport;
        async fn connect(&self, job: &Job) -> std::result::Result<FakeTransport, HostError> {
            if job.name == "gone" {
                return Err(HostError::new("connection refused"));
            }
            let facts = facts_output(Some(&config(&key_of(job))), Some(SYSCTL_FILE), true);
            Ok(FakeTransport::new(move |command, _| {
                if command.contains("wgdeploy-facts") {
                    ok(&facts)
                } else if command.contains("@@done remove") {
                    ok(
                        "@@generation kept 2\n@@removed-sysctl-file\n@@switched-off\nnet.ipv4.ip_forward\n@@done remove\n@@end\n",
                    )
                } else {
                    ok("@@generation kept 2\n@@forward\noff net.ipv4.ip_forward\n@@end\n")
                }
            }))
        }
    }

    struct Quiet;
    impl Reporter for Quiet {
        fn update(&self, _: &str, _: &str) {}
        fn finish(&self, _: &str, _: bool, _: &str) {}
    }

    fn managed(host: &str) -> Managed {
        Managed {
            interface: "wg0".into(),
            ssh: RememberedSsh {
                host: host.into(),
                port: Some(22),
                user: Some("root".into()),
                identity: Some("/keys/id".into()),
                become_: None,
                jump: None,
            },
        }
    }

    /// The state of an inventory with r, office and gone, all applied; then office and gone leave.
    fn state_after_removal() -> (State, Inventory) {
        let planned = |yaml: &str| {
            let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
            let addresses =
                crate::core::addressing::assign(&inventory, &std::collections::HashMap::new())
                    .unwrap();
            let topology = crate::core::topology::plan(&inventory, &addresses);
            (inventory, addresses, topology)
        };
        let mut state = State::default();
        let (all, addresses, topology) = planned(
            "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  office: {}\n  gone: {}\n",
        );
        state.reconcile(&all, &addresses, &topology);
        for host in ["r", "office", "gone"] {
            assert!(state.remember(host, managed(host)));
        }
        let (smaller, addresses, topology) = planned(
            "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n",
        );
        state.reconcile(&smaller, &addresses, &topology);
        (state, smaller)
    }

    #[tokio::test]
    async fn apply_decommissions_a_removed_host_then_the_state_forgets_it_and_keeps_an_unreachable_one()
     {
        let (mut state, inventory) = state_after_removal();
        let removed: Vec<&str> = state.removed(&inventory).iter().map(|(n, _)| *n).collect();
        assert_eq!(
            removed,
            ["gone", "office"],
            "managed hosts stay until decommissioned"
        );
        // `--hosts office` contacts only office.
        let selected = jobs(&state, &inventory, &["office".into()]);
        assert_eq!(selected.len(), 1);
        assert!(selected[0].alias.is_none());
        let limits = Limits {
            parallel: 4,
            connect: Duration::from_secs(5),
            apply: Duration::from_secs(5),
        };
        let fleet = Arc::new(Fleet);
        let surveyed = survey(
            fleet.clone(),
            jobs(&state, &inventory, &[]),
            limits,
            Arc::new(Quiet),
        )
        .await;
        let gone = surveyed
            .iter()
            .find(|host| host.job.name == "gone")
            .unwrap();
        let error = gone.outcome.as_ref().err().unwrap();
        assert!(error.message.contains(
            "removed from the inventory, but cannot be decommissioned: connection refused"
        ));
        assert!(error.help.as_deref().unwrap().contains("--keep-removed"));
        let run = Arc::new(Run {
            deployment: "20261130-233000-abcd".into(),
            kind: "apply",
            inventory_digest: "sha256:00".into(),
            keep: 10,
            confirm_timeout: Duration::from_secs(5),
            atomic: false,
        });
        let reports =
            crate::engine::apply::apply(fleet, surveyed, limits, run, Arc::new(Quiet)).await;
        let office = reports
            .iter()
            .find(|report| report.name == "office")
            .unwrap();
        assert_eq!(office.class, Some(Class::Remove));
        assert!(office.outcome.as_ref().unwrap().changed);
        assert_eq!(
            office.notes,
            [
                "decommissioned: `wg0` down, config removed (kept as generation 2), sysctl.d file removed, net.ipv4.ip_forward = 0"
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let settled = settle(&mut state, Vec::new(), &reports, &path).unwrap();
        assert_eq!(settled.forgotten, ["office"]);
        assert!(state.managed("office").is_none() && state.private_key("office").is_none());
        assert!(
            state.managed("gone").is_some(),
            "an unreachable removed host is kept"
        );
        let saved = State::load(&path).unwrap();
        assert_eq!(saved.managed("gone"), Some(&managed("gone")));
    }

    #[test]
    fn a_jump_host_is_resolved_among_inventory_hosts_then_remembered_ones() {
        let (mut state, inventory) = state_after_removal();
        let mut office = managed("198.18.0.4");
        office.ssh.jump = Some("gone".into());
        state.remember("office", office);
        let mut gone = managed("198.18.0.9");
        gone.ssh.jump = Some("r".into());
        state.remember("gone", gone);
        let options = crate::engine::deploy::ssh_options(None, false, 5);
        let connector = SshConnector::new(&inventory, options);
        let targets = targets(&state, &inventory, &connector);
        let office = targets.iter().find(|t| t.label == "office").unwrap();
        let hop = office.jump.as_ref().unwrap();
        assert_eq!(
            (hop.label.as_str(), hop.host.as_str()),
            ("gone", "198.18.0.9")
        );
        assert_eq!(
            hop.jump.as_ref().unwrap().label,
            "r",
            "then the inventory's r"
        );
    }

    /// `office` (removed; decommissioned, then given a config again, statefully) and `broken` (in
    /// the inventory; its apply step fails once armed).
    struct AtomicFleet {
        office: std::sync::Mutex<Option<FakeTransport>>,
    }

    fn office_dump(key: &PrivateKey) -> String {
        format!(
            "-\t{}\t51820\toff\n{}\t-\t(none)\t100.64.0.1/32\t0\t0\t0\toff\n",
            key.public_key().to_base64(),
            public(9)
        )
    }

    impl Connector for AtomicFleet {
        type Session = FakeTransport;
        async fn connect(&self, job: &Job) -> std::result::Result<FakeTransport, HostError> {
            if job.name == "broken" {
                let facts = facts_output(None, None, false);
                return Ok(FakeTransport::new(move |command, _| {
                    if command.contains("wgdeploy-facts") {
                        ok(&facts)
                    } else {
                        ok("@@armed\n@@written\n@@fail wg-quick up wg0 failed\n@@reverted-now\n")
                    }
                }));
            }
            let mut office = self.office.lock().unwrap();
            if let Some(host) = office.as_ref() {
                return Ok(host.clone());
            }
            let key = key_of(job);
            let current = Arc::new(std::sync::Mutex::new(Some(config(&key))));
            let host = FakeTransport::new(move |command, stdin| {
                let mut current = current.lock().unwrap();
                let dump = office_dump(&key);
                if command.contains("wgdeploy-facts") {
                    let file = current.is_some().then_some(SYSCTL_FILE);
                    ok(&facts_output(current.as_deref(), file, current.is_some()))
                } else if command.contains("@@confirmed") {
                    ok(&format!(
                        "@@confirmed\n@@generation 3\n@@now 0\n@@dump\n{dump}@@end\n"
                    ))
                } else if command.contains("@@done remove") {
                    *current = None;
                    ok(
                        "@@generation kept 2\n@@removed-sysctl-file\n@@switched-off\n@@done remove\n@@end\n",
                    )
                } else if command.contains("decide_forwarding") {
                    ok("@@generation kept 2\n@@forward\n@@end\n")
                } else {
                    *current = Some(String::from_utf8_lossy(stdin).into_owned());
                    ok(&format!(
                        "@@armed\n@@written\n@@done up\n@@dump\n{dump}@@end\n"
                    ))
                }
            });
            *office = Some(host.clone());
            Ok(host)
        }
    }

    #[tokio::test]
    async fn atomic_brings_a_decommissioned_host_back_when_another_host_fails() {
        let (mut state, inventory) = state_after_removal();
        let limits = Limits {
            parallel: 4,
            connect: Duration::from_secs(5),
            apply: Duration::from_secs(5),
        };
        let fleet = Arc::new(AtomicFleet {
            office: Default::default(),
        });
        let office_jobs = jobs(&state, &inventory, &["office".into()]);
        let mut surveyed = survey(fleet.clone(), office_jobs, limits, Arc::new(Quiet)).await;
        let broken = Job {
            name: "broken".into(),
            interface: wg0(),
            desired: SecretText::new(config(&PrivateKey::from_bytes([3; 32]))),
            forwarding: Families::default(),
            become_: Become::None,
            keys: Default::default(),
        };
        surveyed.extend(
            crate::engine::survey::survey(fleet.clone(), vec![broken], limits, Arc::new(Quiet))
                .await,
        );
        let run = Arc::new(Run {
            deployment: "20261130-233000-abcd".into(),
            kind: "apply",
            inventory_digest: "sha256:00".into(),
            keep: 10,
            confirm_timeout: Duration::from_secs(5),
            atomic: true,
        });
        let reports =
            crate::engine::apply::apply(fleet.clone(), surveyed, limits, run, Arc::new(Quiet))
                .await;
        let office = &reports[0];
        assert_eq!(
            (office.name.as_str(), office.class),
            ("office", Some(Class::Remove))
        );
        assert!(office.rolled_back && office.outcome.is_ok(), "{office:?}");
        // Its config went back on stdin, with its forwarding persisted again.
        let host = fleet.office.lock().unwrap().clone().unwrap();
        let pushed: Vec<(String, Vec<u8>)> = host
            .recorded()
            .into_iter()
            .filter(|(_, stdin)| !stdin.is_empty())
            .collect();
        assert_eq!(pushed.len(), 1);
        assert_eq!(
            String::from_utf8(pushed[0].1.clone()).unwrap(),
            config(state.private_key("office").unwrap())
        );
        assert!(
            pushed[0]
                .0
                .contains(" write '# Written by wgdeploy: wg0 forwards"),
            "forwarding persisted again: {}",
            pushed[0].0.rsplit("' wgdeploy ").next().unwrap_or("")
        );
        let dir = tempfile::tempdir().unwrap();
        let settled = settle(&mut state, Vec::new(), &reports, &dir.path().join("s.json")).unwrap();
        assert_eq!(
            settled,
            Settled::default(),
            "a rolled-back removal is not forgotten"
        );
        assert!(state.managed("office").is_some());
    }

    #[test]
    fn a_decommissioned_jump_host_is_kept_while_a_host_still_in_the_state_needs_it() {
        let (mut state, _) = state_after_removal();
        let mut office = managed("198.18.0.4");
        office.ssh.jump = Some("gone".into());
        state.remember("office", office);
        let report = |name: &str| HostReport {
            name: name.into(),
            class: Some(Class::Remove),
            outcome: Ok(Applied {
                changed: true,
                live: None,
                generation: None,
                now: 0,
            }),
            notes: Vec::new(),
            rolled_back: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        // office (reached through gone) failed: gone is decommissioned but stays.
        let settled = settle(&mut state, Vec::new(), &[report("gone")], &path).unwrap();
        assert_eq!(
            settled.kept_as_jump,
            [("gone".to_owned(), "office".to_owned())]
        );
        assert!(settled.forgotten.is_empty() && state.managed("gone").is_some());
        assert!(settled_text(&settled).contains(
            "gone: decommissioned, but kept in the state file: office is reached through it"
        ));
        // Both decommissioned: both forgotten.
        let settled = settle(
            &mut state,
            Vec::new(),
            &[report("gone"), report("office")],
            &path,
        )
        .unwrap();
        assert_eq!(settled.forgotten, ["gone", "office"]);
    }

    #[test]
    fn a_host_running_another_key_is_left_untouched() {
        let config = config(&PrivateKey::from_bytes([2; 32]));
        let host = FakeHost::new(&config);
        let parsed = host.run(&remove_host_script(
            &wg0(),
            false,
            &host.stamp(),
            &public(1),
            &record(),
        ));
        assert!(parsed.section("not-ours").is_some() && parsed.section("done").is_some());
        assert_eq!(
            host.file("etc/wireguard/wg0.conf").as_deref(),
            Some(config.as_str())
        );
        assert!(host.root.join("sys/class/net/wg0").exists());
        assert!(host.file("etc/sysctl.d/99-wgdeploy-wg0.conf").is_some());
        assert_eq!(
            host.file("proc/sys/net/ipv4/ip_forward").as_deref(),
            Some("1\n")
        );
    }
}
