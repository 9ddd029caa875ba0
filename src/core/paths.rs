//! Where wgdeploy keeps things on a host: one interface's config, backup, lock, temporary files,
//! sysctl.d file and state directory. Pure knowledge, shared by the plan and the remote scripts.

use crate::core::model::InterfaceName;

/// The paths wgdeploy manages for one interface.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: &'static str,
    pub config: String,
    pub backup: String,
    pub lock: String,
    pub temp_prefix: String,
    pub sysctl_file: String,
    /// The host's own private key with `keys: on-host` (mode 0600; never read by wgdeploy).
    pub key_file: String,
    /// Root-only directory with the generations and the lock-out protection's files.
    pub state: String,
}

impl Paths {
    pub fn new(interface: &InterfaceName) -> Paths {
        let dir = "/etc/wireguard";
        let name = interface.as_str();
        Paths {
            dir,
            config: format!("{dir}/{name}.conf"),
            backup: format!("{dir}/{name}.conf.wgdeploy-prev"),
            lock: format!("{dir}/.{name}.wgdeploy.lock"),
            temp_prefix: format!("{dir}/.{name}.conf.wgdeploy-tmp"),
            sysctl_file: format!("/etc/sysctl.d/99-wgdeploy-{name}.conf"),
            key_file: format!("{dir}/{name}.key"),
            state: format!("{STATE_ROOT}/{name}"),
        }
    }
}

/// Where wgdeploy keeps what it knows on a host (mode 0700: generations hold private keys).
pub const STATE_ROOT: &str = "/var/lib/wgdeploy";

/// The sysctls wgdeploy reads on every host and may switch on for forwarding hosts.
pub const FORWARDING_SYSCTLS: [&str; 2] = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];
