//! `wgdeploy adopt INVENTORY`: taking over hosts that already run WireGuard, and the guard that
//! keeps `apply` from replacing such a host's config without a word.
//!
//! adopt reads each selected host's interface in one round trip ([`read_hosts`]); [`crate::core::adopt`]
//! decides what the inventory allows to keep (keys, addresses, listen port, preshared keys shared
//! with peers that are also in the inventory, matched by public key). That is written into the
//! state file ([`record`]), so the first apply keeps those keys and addresses; what cannot be
//! kept is reported with the reason and, where there is one, the inventory line that would keep
//! it. adopt changes nothing on the hosts.

mod read;
mod unmanaged;

pub use read::parse_read;
pub use unmanaged::guard;

use crate::core::adopt::{Adoption, HostRead};
use crate::core::facts::SecretText;
use crate::core::keys::OwnKey;
use crate::core::model::{HostId, Inventory};
use crate::core::topology::Topology;
use crate::engine::error::HostFailure;
use crate::engine::types::{Connector, HostError, Job, Limits};
use crate::store::state::State;
use std::sync::Arc;

/// One job per inventory host to read (all of them when `hosts` is empty, else those named),
/// in inventory order. adopt renders nothing: the jobs carry no config, only whether the host
/// keeps its own key (`keys: on-host`: then adopt reads its public half only).
pub fn jobs(inventory: &Inventory, hosts: &[String]) -> Vec<Job> {
    inventory
        .hosts
        .iter()
        // Devices are never logged into: nothing to read there.
        .filter(|host| !host.is_device())
        .filter(|host| hosts.is_empty() || hosts.iter().any(|h| h == host.name.as_str()))
        .map(|host| Job {
            name: host.name.as_str().to_owned(),
            interface: inventory.network.interface.clone(),
            desired: SecretText::new(String::new()),
            forwarding: Default::default(),
            become_: if host.ssh.sudo {
                crate::remote::Become::Sudo
            } else {
                crate::remote::Become::None
            },
            keys: std::sync::Arc::new(crate::core::key_guard::KeyContext {
                on_host: inventory
                    .key_on_host(host)
                    .then(|| host.name.as_str().to_owned())
                    .into_iter()
                    .collect(),
                ..Default::default()
            }),
        })
        .collect()
}

/// Reads each job's host (connect, run the adopt script, parse), `limits.parallel` at a time and
/// each within `limits.connect`: by host name, what it runs or why it could not be read.
pub async fn read_hosts<C: Connector>(
    connector: Arc<C>,
    jobs: Vec<Job>,
    limits: Limits,
) -> Vec<(String, Result<HostRead, HostError>)> {
    let limit = limits.connect;
    crate::engine::parallel::bounded(jobs, limits.parallel, move |job| {
        let connector = connector.clone();
        async move {
            let work = async {
                let session = connector.connect(&job).await?;
                let on_host = job.keys.on_host.contains(&job.name);
                let script = crate::remote::adopt_script(&job.interface, on_host);
                let output = crate::engine::exec::run(&session, &job, &script, &[]).await?;
                parse_read(&job.name, &output.stdout).map_err(HostError::from)
            };
            let outcome = match tokio::time::timeout(limit, work).await {
                Ok(outcome) => outcome,
                Err(_) => Err(HostFailure::AdoptUnreachable {
                    secs: limit.as_secs(),
                }
                .into()),
            };
            (job.name, outcome)
        }
    })
    .await
}

/// [`crate::core::adopt::decide`], knowing the hosts not read now by the keys `state` holds.
pub fn decide(
    inventory: &Inventory,
    topology: &Topology,
    state: &State,
    reads: &[(HostId, HostRead)],
) -> Adoption {
    crate::core::adopt::decide(
        inventory,
        topology,
        |name| {
            state
                .private_key(name)
                .map(|key| key.public_key())
                .or_else(|| state.public_key(name))
        },
        reads,
    )
}

/// Writes what was decided into the state. Hosts with nothing to keep are left as they were. A
/// host that makes its own key (`keys: on-host`) is recorded by its public key only (that is all
/// adopt read of it): the host keeps the key (its apply moves it into its key file).
pub fn record(adoption: &Adoption, inventory: &Inventory, state: &mut State) {
    for host in &adoption.hosts {
        let on_host = inventory
            .host_id(&host.name)
            .is_some_and(|id| inventory.key_on_host(&inventory.hosts[id]));
        match &host.key {
            Some(OwnKey::Private(key)) if !on_host => {
                state.adopt(&host.name, key.clone(), host.addresses.clone())
            }
            Some(key) => state.adopt_public(&host.name, key.public_key(), host.addresses.clone()),
            None => {}
        }
    }
    for (a, b, key) in &adoption.preshared {
        state.adopt_preshared(a, b, key.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::fake::{FakeTransport, ok};
    use std::time::Duration;

    /// Answers every host but `slow` (which never answers) with a config to adopt.
    struct Hosts;
    impl Connector for Hosts {
        type Session = FakeTransport;
        async fn connect(&self, job: &Job) -> Result<FakeTransport, HostError> {
            if job.name == "slow" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            let config = "[Interface]\nAddress = 100.64.0.7/24\n";
            let answer = format!(
                "@@wgdeploy-adopt 1\n@@user root\n@@tools\nwg\n@@dir\nok\n@@config {}\n{config}\n@@end\n",
                config.len()
            );
            Ok(FakeTransport::new(move |command, _| {
                assert!(command.contains("wgdeploy-adopt"), "{command}");
                ok(&answer)
            }))
        }
    }

    /// `--hosts` picks the hosts read; a host that does not answer in time is named with the limit,
    /// the others are read.
    #[tokio::test]
    async fn reads_the_selected_hosts_and_names_one_that_does_not_answer() {
        let yaml = "network: { addresses: [100.64.0.0/24] }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  slow: { via: relay1 }\n  home: { via: relay1 }\n";
        let inventory =
            crate::core::inventory::parse(std::path::Path::new("t.yaml"), yaml).unwrap();
        assert_eq!(jobs(&inventory, &[]).len(), 3);
        let jobs = jobs(&inventory, &["slow".into(), "relay1".into()]);
        let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
        assert_eq!(names, ["relay1", "slow"], "inventory order");
        let limits = Limits {
            parallel: 2,
            connect: Duration::from_secs(1),
            apply: Duration::from_secs(1),
        };
        let read = read_hosts(Arc::new(Hosts), jobs, limits).await;
        let relay = read[0].1.as_ref().unwrap();
        assert!(relay.found);
        assert_eq!(relay.addresses, ["100.64.0.7/24".parse().unwrap()]);
        let error = read[1].1.as_ref().unwrap_err();
        assert_eq!(read[1].0, "slow");
        assert_eq!(
            error.message,
            "no answer within 1 s while connecting and reading the interface"
        );
        assert!(error.help.as_deref().unwrap().contains("`--timeout`"));
    }

    /// What adopt decided lands in the state: keys and addresses of the hosts it kept a key of,
    /// preshared keys by pair; the next plan gives the kept addresses back.
    #[test]
    fn the_state_holds_what_was_kept_and_the_next_plan_keeps_it() {
        use crate::core::adopt::HostAdoption;
        use crate::core::keys::{PresharedKey, PrivateKey};
        let yaml = "network: { addresses: [100.64.0.0/24] }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  home: { via: relay1 }\n";
        let inventory =
            crate::core::inventory::parse(std::path::Path::new("t.yaml"), yaml).unwrap();
        let key = PrivateKey::from_bytes([1; 32]);
        let psk =
            PresharedKey::from_base64(&PrivateKey::from_bytes([2; 32]).expose_base64()).unwrap();
        let adoption = Adoption {
            hosts: vec![
                HostAdoption {
                    name: "relay1".into(),
                    key: Some(OwnKey::Private(key.clone())),
                    addresses: vec!["100.64.0.50".parse().unwrap()],
                    ..HostAdoption::default()
                },
                HostAdoption {
                    name: "home".into(),
                    ..HostAdoption::default()
                },
            ],
            preshared: vec![("relay1".into(), "home".into(), psk.clone())],
        };
        let mut state = State::default();
        record(&adoption, &inventory, &mut state);
        assert!(state.is_adopted("relay1") && !state.is_adopted("home"));
        assert_eq!(state.private_key("relay1"), Some(&key));
        assert_eq!(state.preshared_key("home", "relay1"), Some(&psk));
        let replanned =
            crate::core::pipeline::plan_loaded(inventory, &state.remembered_addresses()).unwrap();
        assert_eq!(
            replanned.addresses[0],
            ["100.64.0.50".parse::<std::net::IpAddr>().unwrap()]
        );
    }
}
