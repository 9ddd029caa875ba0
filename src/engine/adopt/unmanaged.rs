//! apply's guard: a host whose config wgdeploy did not write is replaced only when it was adopted
//! (its keys kept) or `--replace-unmanaged` says so; plan explains what apply will do.

use crate::engine::error::HostFailure;
use crate::engine::types::Surveyed;
use crate::store::state::State;

/// After a survey: every host whose plan replaces an unmanaged config gets a second reason line
/// saying what apply will do; with `refuse` (apply), a host that was not adopted becomes a per-host
/// error unless `replace` (`--replace-unmanaged`) is given. The other hosts go on.
pub fn guard<S>(hosts: &mut [Surveyed<S>], state: &State, replace: bool, refuse: bool) {
    for host in hosts.iter_mut() {
        let name = host.job.name.clone();
        let Ok((_, _, change)) = &mut host.outcome else {
            continue;
        };
        if !change.replaces_unmanaged {
            continue;
        }
        let adopted = state.is_adopted(&name);
        if !adopted && !replace && refuse {
            host.outcome = Err(HostFailure::RefuseUnmanaged {
                interface: host.job.interface.as_str().to_owned(),
                host: name,
            }
            .into());
            continue;
        }
        change.reasons.push(if adopted {
            "adopted (`wgdeploy adopt`): its keys and addresses are kept; the original stays on the host as generation 0".to_owned()
        } else if replace {
            "--replace-unmanaged: replaced with wgdeploy's keys; the original stays on the host as generation 0".to_owned()
        } else {
            "apply refuses this host unless it is adopted first (`wgdeploy adopt`, keeps its keys) or given `--replace-unmanaged`".to_owned()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::PrivateKey;
    use crate::transport::fake::{FakeTransport, ok};
    use std::path::Path;
    use std::sync::Arc;

    const YAML: &str = "network: { addresses: [100.64.0.0/24], preshared_keys: true }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  web1: { endpoint: 198.51.100.2 }\n  home: { via: relay1 }\n  office: { via: relay1, address: 100.64.0.40 }\n";

    fn key(n: u8) -> PrivateKey {
        PrivateKey::from_bytes([n; 32])
    }

    fn planned(yaml: &str) -> crate::core::render::Deployment {
        let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
        crate::core::pipeline::plan_loaded(inventory, &Default::default()).unwrap()
    }

    /// apply's guard: a host replacing an unmanaged config is refused unless adopted or
    /// `--replace-unmanaged`; plan only explains.
    #[tokio::test]
    async fn apply_refuses_unmanaged_hosts_that_were_not_adopted() {
        let deployment = planned(YAML);
        let mut state = State::default();
        state.reconcile(
            &deployment.inventory,
            &deployment.addresses,
            &deployment.topology,
        );
        let hand = format!(
            "[Interface]\nAddress = 100.64.0.1/24\nPrivateKey = {}\nListenPort = 51820\n",
            key(1).expose_base64()
        );
        let facts = format!(
            "@@wgdeploy-facts 1\n@@user root\n@@tools\nwg\nwg-quick\nflock\n@@dir\nok\n@@stamp 1 2 3\n@@config {}\n{hand}\n@@dump\n-\tPUB=\t51820\toff\n@@end\n",
            hand.len()
        );
        let survey = |state: &State| {
            let jobs = crate::engine::deploy::jobs(
                &deployment,
                state,
                &crate::core::render::Renderer::new(None).unwrap(),
                &["relay1".into()],
                Default::default(),
            )
            .unwrap();
            let transport = FakeTransport::new({
                let facts = facts.clone();
                move |_, _| ok(&facts)
            });
            let job = jobs.into_iter().next().unwrap();
            async move {
                let facts = crate::engine::exec::gather(&transport, &job).await.unwrap();
                let change = job.classify(&facts);
                vec![Surveyed {
                    job: Arc::new(job),
                    outcome: Ok((Arc::new(transport), facts, change)),
                    pending: None,
                }]
            }
        };
        let mut hosts = survey(&state).await;
        {
            let (_, _, change) = hosts[0].outcome.as_ref().unwrap();
            assert!(change.replaces_unmanaged && change.step.keep_original);
            assert!(
                change
                    .reasons
                    .iter()
                    .any(|r| r == crate::core::change::REPLACES_UNMANAGED)
            );
        }
        guard(&mut hosts, &state, false, false);
        assert!(hosts[0].outcome.is_ok(), "plan only explains");
        guard(&mut hosts, &state, false, true);
        let error = hosts[0].outcome.as_ref().err().unwrap();
        assert!(
            error.message.contains("refusing to replace"),
            "{}",
            error.message
        );
        assert!(error.help.as_deref().unwrap().contains("wgdeploy adopt"));

        let mut hosts = survey(&state).await;
        guard(&mut hosts, &state, true, true);
        assert!(hosts[0].outcome.is_ok(), "--replace-unmanaged");

        state.adopt("relay1", key(1), vec!["100.64.0.1".parse().unwrap()]);
        let mut hosts = survey(&state).await;
        guard(&mut hosts, &state, false, true);
        let (_, _, change) = hosts[0].outcome.as_ref().unwrap();
        assert!(
            change.reasons.iter().any(|r| r.starts_with("adopted")),
            "{:?}",
            change.reasons
        );
        // The apply step keeps the original as generation 0 before it writes, under the lock.
        let mut step = change.step.clone();
        step.arm = Some(crate::core::change::Arm {
            token: "20261125-101500-abcd".into(),
            seconds: 30,
            step_seconds: 120,
        });
        let script = crate::remote::apply_script(&step);
        assert_eq!(
            script.args[11], "yes",
            "keep the original: {:?}",
            script.args
        );
        let text = &script.text;
        let keep = text.find("generations/0.conf.tmp").unwrap_or(usize::MAX);
        let keep = keep.min(text.find("\"$gens/0.conf.tmp\"").unwrap());
        assert!(
            text.find("@@armed").unwrap() < keep
                && keep < text.find("tmp=$temp_prefix.$$").unwrap()
        );
    }
}
