//! Where `check` gets its configs: a directory of wg-quick files, or an inventory rendered in
//! memory exactly as `render` would write it. File I/O at the edge; parsing is in `wgconf`.

use crate::check::ConfigSet;

/// Configs plus what is known about the hosts beyond them.
#[derive(Debug, Clone)]
pub struct CheckInput {
    pub sets: Vec<ConfigSet>,
    /// Hosts behind NAT.
    pub nat: Vec<String>,
    /// Forwarding per host when an inventory says; `None` for hand-written configs.
    pub forwarding: Option<Vec<bool>>,
    /// Address families of hosts' own networks, by name: every host's from an inventory, those
    /// `--underlay` states for configs.
    pub underlay: Vec<(String, crate::core::underlay::Families)>,
    /// Hosts that forward by means outside their configs (`--forwards`).
    pub forwards: Vec<String>,
    /// Subnets and exits when an inventory declares them; `None`: inferred from the configs.
    pub places: Option<crate::check::DeclaredPlaces>,
}

impl CheckInput {
    /// Hand-written configs: every fact beyond them comes from the command line.
    pub fn configs(sets: Vec<ConfigSet>, nat: Vec<String>, forwards: Vec<String>) -> CheckInput {
        CheckInput {
            sets,
            nat,
            forwarding: None,
            underlay: Vec::new(),
            forwards,
            places: None,
        }
    }

    pub fn facts(&self) -> crate::check::Facts<'_> {
        crate::check::Facts {
            nat: &self.nat,
            forwarding: self.forwarding.clone(),
            underlay: &self.underlay,
            forwards: &self.forwards,
            places: self.places.clone(),
        }
    }
}
use crate::core::error::{Diagnostic, Error, Result};
use std::path::Path;

/// Reads `DIR/NAME.conf` and `DIR/NAME/IFACE.conf` (as `render` writes them), sorted by name.
pub fn from_dir(dir: &Path) -> Result<Vec<ConfigSet>> {
    let entries =
        std::fs::read_dir(dir).map_err(|err| Error::io("read config directory", dir, &err))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| Error::io("read config directory", dir, &err))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let confs: Vec<_> = std::fs::read_dir(&path)
                .map_err(|err| Error::io("read config directory", &path, &err))?
                .filter_map(|inner| inner.ok().map(|inner| inner.path()))
                .filter(|inner| inner.extension().is_some_and(|ext| ext == "conf"))
                .collect();
            match confs.as_slice() {
                [] => {}
                [one] => files.push((name, one.clone())),
                _ => {
                    return Err(Diagnostic::new(format!(
                        "`{}` holds several .conf files; check takes one interface per host",
                        path.display()
                    ))
                    .help("point --configs at a directory with one config per host")
                    .into());
                }
            }
        } else if let Some(stem) = name.strip_suffix(".conf") {
            files.push((stem.to_owned(), path));
        }
    }
    if files.is_empty() {
        return Err(
            Diagnostic::new(format!("`{}` holds no wg-quick configs", dir.display()))
                .help("expected DIR/NAME.conf or DIR/NAME/wg0.conf, one per host")
                .into(),
        );
    }
    files.sort();
    let mut problems = Vec::new();
    let mut sets = Vec::new();
    for (name, path) in files {
        let text =
            std::fs::read_to_string(&path).map_err(|err| Error::io("read config", &path, &err))?;
        match crate::core::wgconf::parse(&path, &text) {
            Ok(config) => sets.push(ConfigSet { name, config }),
            Err(error) => problems.extend(error.diagnostics().iter().cloned()),
        }
    }
    if let Some(error) = Error::from_all(problems) {
        return Err(error);
    }
    Ok(sets)
}

/// The configs of a planned deployment, rendered and parsed back, with the inventory's facts.
pub fn from_deployment(
    deployment: &crate::core::render::Deployment,
    keys: &dyn crate::core::keys::KeySource,
    renderer: &crate::core::render::Renderer,
) -> Result<CheckInput> {
    let rendered = renderer.render_all(deployment, keys)?;
    let hosts = &deployment.inventory.hosts;
    let mut sets = Vec::with_capacity(hosts.len());
    for (host, text) in hosts.iter().zip(&rendered) {
        let label = Path::new(host.name.as_str())
            .join(format!("{}.conf", deployment.inventory.network.interface));
        let config = crate::core::wgconf::parse(&label, text)?;
        sets.push(ConfigSet {
            name: host.name.to_string(),
            config,
        });
    }
    let nat = hosts
        .iter()
        .filter(|host| host.is_nat())
        .map(|host| host.name.to_string())
        .collect();
    let forwarding = deployment
        .topology
        .hosts
        .iter()
        .map(|plan| plan.forwarding)
        .collect();
    let underlay = hosts
        .iter()
        .map(|host| (host.name.to_string(), host.underlay))
        .collect();
    Ok(CheckInput {
        sets,
        nat,
        forwarding: Some(forwarding),
        underlay,
        forwards: Vec::new(),
        places: Some(declared_places(hosts)),
    })
}

/// The subnets (`routes`) and exits (`exit`, `use_exit`) of an inventory's hosts, by host index
/// (the configs are in host order).
fn declared_places(hosts: &[crate::core::model::Host]) -> crate::check::DeclaredPlaces {
    crate::check::DeclaredPlaces {
        subnets: hosts
            .iter()
            .enumerate()
            .flat_map(|(owner, host)| host.routes.iter().map(move |&net| (owner, net)))
            .collect(),
        exits: hosts
            .iter()
            .enumerate()
            .filter(|(_, host)| host.exit)
            .map(|(exit, _)| {
                let users = hosts
                    .iter()
                    .enumerate()
                    .filter(|(_, host)| host.use_exit == Some(exit))
                    .map(|(user, _)| user)
                    .collect();
                (exit, users)
            })
            .collect(),
    }
}
