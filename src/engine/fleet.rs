//! A fleet: the inventory planned against the state, and the selected hosts surveyed over SSH,
//! with what it takes to go on changing them (the first half of plan, apply, rollback, status).

use crate::core::error::{Diagnostic, Result};
use crate::core::render::Deployment;
use crate::engine::deploy::{self, Connection};
use crate::engine::survey::Goal;
use crate::engine::types::{Reporter, Surveyed};
use crate::transport::ssh::SshSession;
use std::path::Path;
use std::sync::Arc;

/// A surveyed fleet and what it takes to go on changing it.
pub struct Fleet {
    pub runtime: tokio::runtime::Runtime,
    pub connection: Connection,
    pub deployment: Deployment,
    /// Keys as planned; new ones exist only in memory until a changing command saves them.
    pub state: crate::store::state::State,
    /// `state` differs from the state file.
    pub state_changed: bool,
    /// Hosts renamed in the inventory (old, new): they keep their keys and addresses.
    pub renamed: Vec<(String, String)>,
    pub renderer: crate::core::render::Renderer,
    pub hosts: Vec<Surveyed<SshSession>>,
    /// Devices (`manage: false`): never contacted, listed with what changed since their export.
    pub devices: Vec<crate::engine::devices::DeviceView>,
    /// `wgdeploy rotate`: the hosts rotated and those changed with them.
    pub rotation: Option<crate::core::rotation::Rotation>,
}

/// What to survey: the command line's choices as plain values.
pub struct FleetOptions<'a> {
    pub inventory: &'a Path,
    pub state: &'a Path,
    pub templates: Option<&'a Path>,
    pub connection: Connection,
    /// Hosts that get a new key on purpose (their peers must be surveyed too).
    pub rekey: &'a [String],
    /// `keys: on-host`: a selected host without a key makes one now (apply; never a plan).
    pub create_keys: bool,
    /// `wgdeploy rotate`: new keys for these hosts (all managed ones when it names none), and
    /// their peers contacted with them.
    pub rotate: Option<&'a crate::core::rotation::Ask>,
}

/// Loads and plans the whole inventory, then surveys the selected hosts over SSH towards `goal`
/// (the plan, or a rollback's generations).
pub fn survey(options: FleetOptions, goal: Goal, reporter: Arc<dyn Reporter>) -> Result<Fleet> {
    let FleetOptions {
        inventory,
        state,
        templates,
        connection,
        rekey,
        create_keys,
        rotate,
    } = options;
    let mut connection = connection;
    let mut loaded = deploy::load_with(inventory, state, templates, rekey, rotate)?;
    // `rotate --hosts` names the keys; the run contacts those hosts and all their peers.
    if let (Some(rotation), Some(ask)) = (&loaded.rotation, rotate)
        && !ask.hosts.is_empty()
    {
        connection.hosts = rotation.contacted.clone();
    }
    rekey_reaches_every_peer(&loaded.deployment, rekey, &connection.hosts)?;
    let runtime = deploy::runtime()?;
    if loaded.deployment.inventory.network.keys == crate::core::model::KeyMode::OnHost {
        crate::engine::host_keys::settle(
            &runtime,
            &mut loaded,
            &connection,
            create_keys,
            reporter.clone(),
        )?;
    }
    let jobs = deploy::jobs(
        &loaded.deployment,
        &loaded.state,
        &loaded.renderer,
        &connection.hosts,
        Arc::new(loaded.keys),
    )?;
    let devices =
        crate::engine::devices::views(&loaded.deployment, &loaded.state, &loaded.renderer)?;
    let rotation = loaded.rotation.take();
    let planned = matches!(goal, Goal::Planned | Goal::Apply);
    let mut hosts = deploy::survey(
        &runtime,
        &loaded.deployment,
        jobs,
        &connection,
        reporter,
        goal,
    );
    if planned {
        warn_unpaired_hooks(&loaded.deployment, &mut hosts);
    }
    Ok(Fleet {
        runtime,
        connection,
        deployment: loaded.deployment,
        state: loaded.state,
        state_changed: loaded.state_changed,
        renamed: loaded.renamed,
        renderer: loaded.renderer,
        hosts,
        devices,
        rotation,
    })
}

/// A host whose new config brings up a hook that nothing takes down gets the warning among its
/// plan's reasons: lock-out protection can put back the config, not what the hook did.
fn warn_unpaired_hooks(deployment: &Deployment, hosts: &mut [Surveyed<SshSession>]) {
    for surveyed in hosts {
        let Ok((_, _, change)) = &mut surveyed.outcome else {
            continue;
        };
        let host = deployment.inventory.host_id(&surveyed.job.name);
        if let Some(warning) = host.filter(|_| change.write).and_then(|id| {
            deployment.inventory.hosts[id]
                .settings
                .interface
                .unpaired_hooks()
        }) {
            change.reasons.push(warning);
        }
        if let Some(id) = host.filter(|_| change.write) {
            change
                .reasons
                .extend(dialled_endpoint_warnings(deployment, id));
        }
    }
}

/// The endpoints that cannot be right (unspecified, loopback, inside the overlay) among those the
/// host's new config dials: the warning goes with the configs that carry them.
fn dialled_endpoint_warnings(deployment: &Deployment, id: usize) -> Vec<String> {
    let inventory = &deployment.inventory;
    let me = &inventory.hosts[id];
    let mut warnings = Vec::new();
    for peer in deployment.topology.hosts[id]
        .peers
        .iter()
        .filter(|peer| peer.dial)
    {
        let other = &inventory.hosts[peer.host];
        let Some(chosen) = crate::core::underlay::choose(me, other) else {
            continue;
        };
        if let crate::core::model::EndpointHost::Ip(ip) = chosen.host
            && let Some(why) = crate::core::underlay::doubt(ip, &inventory.network.ranges)
        {
            warnings.push(why.explain(other.name.as_str(), &chosen.to_string()));
        }
    }
    warnings
}

/// A new key must reach the host and every peer in the same run: `--hosts` may not leave one out.
fn rekey_reaches_every_peer(
    deployment: &Deployment,
    rekey: &[String],
    selected: &[String],
) -> Result<()> {
    if selected.is_empty() {
        return Ok(());
    }
    let inventory = &deployment.inventory;
    for name in rekey {
        let Some(id) = inventory.host_id(name) else {
            continue;
        };
        let mut needed = vec![name.as_str()];
        needed.extend(
            deployment.topology.hosts[id]
                .peers
                .iter()
                .map(|peer| inventory.hosts[peer.host].name.as_str()),
        );
        // A device gets its new key by export, never over SSH.
        needed.retain(|host| {
            inventory
                .host_id(host)
                .is_none_or(|id| !inventory.hosts[id].is_device())
        });
        let left_out: Vec<&str> = needed
            .into_iter()
            .filter(|host| !selected.iter().any(|s| s == host))
            .collect();
        if !left_out.is_empty() {
            return Err(Diagnostic::new(format!(
                "`--rekey {name}` changes {name}'s key on every host that lists it, but `--hosts` leaves out {}",
                left_out.join(", ")
            ))
            .help(format!(
                "add them to `--hosts`, or drop `--hosts`: a peer left with the old key could no longer reach {name}"
            ))
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_dialling_an_endpoint_that_cannot_be_right_carries_the_warning() {
        let inventory = crate::core::inventory::parse(
            std::path::Path::new("t.yaml"),
            "network: { addresses: [100.64.0.0/24] }\nhosts:\n  relay1: { endpoint: [127.0.0.1, '[2001:db8::1]:51820'], relay: true }\n  home: {}\n  home6: { underlay: ipv6 }\n",
        )
        .unwrap();
        let deployment =
            crate::core::pipeline::plan_loaded(inventory, &Default::default()).unwrap();
        let id = |name: &str| deployment.inventory.host_id(name).unwrap();
        let home = dialled_endpoint_warnings(&deployment, id("home"));
        assert_eq!(home.len(), 1, "{home:?}");
        assert!(
            home[0].contains("endpoint `127.0.0.1:51820` of `relay1` is a loopback address"),
            "{home:?}"
        );
        // home6 dials the IPv6 endpoint, which is fine; the relay dials nobody.
        assert!(dialled_endpoint_warnings(&deployment, id("home6")).is_empty());
        assert!(dialled_endpoint_warnings(&deployment, id("relay1")).is_empty());
    }
}
