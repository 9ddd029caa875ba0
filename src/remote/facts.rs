//! Parsing what hosts answer: `@@section` lines and length-framed files (see
//! [`crate::remote::facts_script`] and the other scripts), `wg show dump`, routes and generations,
//! into [`crate::core::facts`]. Pure: bytes in, facts out, so it is tested on captured output.

use crate::core::facts::{Facts, FileFact, Generation, LiveInterface, LivePeer, SecretText};
use ipnet::IpNet;

/// Parses the `generations` section: `generation=N` starts a record, `key=value` lines fill it.
pub fn parse_generations(lines: &[String]) -> Vec<Generation> {
    let mut generations: Vec<Generation> = Vec::new();
    for line in lines {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key == "generation" {
            if let Ok(number) = value.parse() {
                generations.push(Generation {
                    number,
                    ..Generation::default()
                });
            }
            continue;
        }
        let Some(generation) = generations.last_mut() else {
            continue;
        };
        let value = value.to_owned();
        match key {
            "deployment" => generation.deployment = value,
            "kind" => generation.kind = value,
            "time" => generation.time = value,
            "inventory" => generation.inventory = value,
            "version" => generation.version = value,
            _ => {}
        }
    }
    // The host lists them in glob order (10 before 2); oldest first is by number.
    generations.sort_by_key(|generation| generation.number);
    generations
}

/// A host's answer that is not what its script prints: cut, malformed, or not text. Messages name
/// the section, never its content (a section may hold keys).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    /// A framed section's length is not a number.
    #[error("malformed `{section}` frame in the host's answer")]
    MalformedFrame { section: &'static str },
    /// The answer ended before the framed section's last byte.
    #[error("the host's answer ended inside `{section}`")]
    EndedInside { section: &'static str },
    #[error("`{section}` on the host is not UTF-8 text")]
    NotText { section: &'static str },
    /// The script's first section or its `@@end` is missing: it did not run to the end.
    #[error(
        "the host's answer to the {script} script is incomplete (the script did not run to the end)"
    )]
    Incomplete { script: &'static str },
    #[error("unexpected `wg show dump` output on the host")]
    UnexpectedDump,
}

/// A cursor over script output: `@@name args` headers, lines, and length-framed blobs.
struct Sections<'a> {
    rest: &'a [u8],
}

impl<'a> Sections<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(self.rest.len());
        let line = &self.rest[..end];
        self.rest = &self.rest[(end + 1).min(self.rest.len())..];
        Some(std::str::from_utf8(line).unwrap_or(""))
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.rest.len() < len {
            return None;
        }
        let (blob, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(blob)
    }
}

/// Splits script output into sections: name → (header argument, body lines or framed content).
#[derive(Debug, Default)]
pub struct Parsed {
    sections: Vec<(String, String, Vec<String>)>,
    files: Vec<(String, FileFact)>,
    pub ended: bool,
}

impl Parsed {
    pub fn section(&self, name: &str) -> Option<(&str, &[String])> {
        self.sections
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, arg, lines)| (arg.as_str(), lines.as_slice()))
    }
    pub fn lines(&self, name: &str) -> &[String] {
        self.section(name).map(|(_, lines)| lines).unwrap_or(&[])
    }
    pub fn file(&self, name: &str) -> Option<FileFact> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, fact)| fact.clone())
    }
}

/// Names of sections whose header carries a framed file (`@@NAME LEN` + LEN bytes + newline).
const FILE_SECTIONS: [&str; 5] = [
    "config",
    "sysctl-file",
    "generation-config",
    // `wgdeploy adopt` only: framed so they land in a redacting `SecretText`, never in plain lines.
    "private-key",
    "preshared-keys",
];

pub fn split(output: &[u8]) -> Result<Parsed, FactsError> {
    let mut cursor = Sections { rest: output };
    let mut parsed = Parsed::default();
    while let Some(line) = cursor.next_line() {
        let Some(header) = line.strip_prefix("@@") else {
            match parsed.sections.last_mut() {
                Some((_, _, lines)) => lines.push(line.to_owned()),
                None => continue, // login banners or shell noise before the first section
            }
            continue;
        };
        let (name, arg) = header.split_once(' ').unwrap_or((header, ""));
        if name == "end" {
            parsed.ended = true;
            break;
        }
        if let Some(&section) = FILE_SECTIONS.iter().find(|section| **section == name) {
            let fact = match arg {
                "absent" => FileFact::Absent,
                "unreadable" => FileFact::Unreadable,
                len => {
                    let len: usize = len
                        .parse()
                        .map_err(|_| FactsError::MalformedFrame { section })?;
                    let blob = cursor
                        .take(len)
                        .ok_or(FactsError::EndedInside { section })?;
                    cursor.next_line(); // the newline the script adds after the content
                    let text = String::from_utf8(blob.to_vec())
                        .map_err(|_| FactsError::NotText { section })?;
                    FileFact::Present(SecretText::new(text))
                }
            };
            parsed.files.push((section.to_owned(), fact));
            continue;
        }
        parsed
            .sections
            .push((name.to_owned(), arg.to_owned(), Vec::new()));
    }
    Ok(parsed)
}

/// Parses the facts script's output.
pub fn parse(output: &[u8]) -> Result<Facts, FactsError> {
    let parsed = split(output)?;
    if parsed.section("wgdeploy-facts").is_none() || !parsed.ended {
        return Err(FactsError::Incomplete { script: "facts" });
    }
    let tools = parsed.lines("tools");
    let has = |tool: &str| tools.iter().any(|line| line == tool);
    let systemd_lines = parsed.lines("systemd");
    let sysctls = parsed
        .lines("sysctl")
        .iter()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            let value = match value.trim() {
                "" => None,
                "0" => Some(false),
                _ => Some(true),
            };
            (key.to_owned(), value)
        })
        .collect();
    Ok(Facts {
        user: parsed
            .section("user")
            .map(|(arg, _)| arg)
            .unwrap_or("")
            .to_owned(),
        os: parsed.lines("os").first().cloned().unwrap_or_default(),
        has_wg: has("wg"),
        has_wg_quick: has("wg-quick"),
        has_flock: has("flock"),
        has_resolvconf: has("resolvconf"),
        systemd: systemd_lines.first().is_some_and(|line| line == "yes"),
        unit_enabled: systemd_lines.iter().any(|line| line == "enabled enabled"),
        no_setsid: systemd_lines.iter().any(|line| line == "no-setsid"),
        dir_readable: parsed
            .lines("dir")
            .first()
            .is_none_or(|line| line != "unreadable"),
        stamp: parsed
            .section("stamp")
            .map(|(arg, _)| arg.to_owned())
            .unwrap_or_else(|| "absent".into()),
        config: parsed.file("config").unwrap_or(FileFact::Absent),
        sysctl_file: parsed.file("sysctl-file").unwrap_or(FileFact::Absent),
        sysctls,
        link_present: parsed.lines("link").iter().any(|line| line == "present"),
        live: parse_live(&parsed)?,
        now: parsed
            .section("now")
            .and_then(|(arg, _)| arg.parse().ok())
            .unwrap_or(0),
        armed: parsed
            .section("armed")
            .map(|(arg, _)| arg.trim())
            .filter(|token| !token.is_empty())
            .map(str::to_owned),
        reverted: parsed.section("reverted").and_then(|(arg, _)| {
            let (token, time) = arg.trim().split_once(' ')?;
            Some((token.to_owned(), time.parse().ok()?))
        }),
        generations: parse_generations(parsed.lines("generations")),
        key_since: parsed
            .section("key-since")
            .and_then(|(arg, _)| arg.trim().parse().ok()),
    })
}

/// The live interface of a script's answer: its `wg show dump` and, when listed, its routes.
pub fn parse_live(parsed: &Parsed) -> Result<Option<LiveInterface>, FactsError> {
    let mut live = parse_dump(parsed.lines("dump"))?;
    if let Some(live) = live.as_mut()
        && parsed.section("routes4").is_some()
    {
        let mut routes = crate::core::routes::parse(parsed.lines("routes4"), false);
        routes.extend(crate::core::routes::parse(parsed.lines("routes6"), true));
        live.routes = Some(routes);
    }
    Ok(live)
}

/// Parses `wg show IFACE dump` lines (private and preshared keys already blanked to `-`).
pub fn parse_dump(lines: &[String]) -> Result<Option<LiveInterface>, FactsError> {
    let mut lines = lines.iter().filter(|line| !line.is_empty());
    let Some(first) = lines.next() else {
        return Ok(None);
    };
    let bad = || FactsError::UnexpectedDump;
    let fields: Vec<&str> = first.split('\t').collect();
    if fields.len() < 4 {
        return Err(bad());
    }
    let mut live = LiveInterface {
        public_key: fields[1].to_owned(),
        listen_port: fields[2].parse().ok().filter(|&port| port != 0),
        peers: Vec::new(),
        routes: None,
    };
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 8 {
            return Err(bad());
        }
        let allowed_ips = if f[3] == "(none)" {
            Vec::new()
        } else {
            f[3].split(',')
                .map(|net| net.trim().parse::<IpNet>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?
        };
        live.peers.push(LivePeer {
            public_key: f[0].to_owned(),
            endpoint: (f[2] != "(none)").then(|| f[2].to_owned()),
            allowed_ips,
            latest_handshake: f[4].parse().unwrap_or(0),
            rx: f[5].parse().unwrap_or(0),
            tx: f[6].parse().unwrap_or(0),
            keepalive: f[7].parse().ok(),
        });
    }
    Ok(Some(live))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = "Welcome banner\n@@wgdeploy-facts 1\n@@user root\n@@os\nDebian GNU/Linux 12 (bookworm)\n@@tools\nwg\nwg-quick\nflock\nawk\nstat\n@@systemd\n@@dir\nok\n@@stamp 1234 200 2026-11-24 10:00:00.123456789 +0000\n@@config 19\n[Interface]\nA = 1\n\n\n@@sysctl-file absent\n@@sysctl\nnet.ipv4.ip_forward=1\nnet.ipv6.conf.all.forwarding=\n@@link\npresent\n@@dump\n-\tPUB=\t51820\toff\nPEER=\t-\t198.51.100.2:51820\t100.64.0.2/32,100.64.1.0/24\t1700000000\t10\t20\t25\nP2=\t-\t(none)\t(none)\t0\t0\t0\toff\n@@end\n";

    #[test]
    fn parses_captured_output() {
        let facts = parse(CAPTURED.as_bytes()).unwrap();
        assert_eq!(facts.user, "root");
        assert_eq!(facts.os, "Debian GNU/Linux 12 (bookworm)");
        assert!(facts.has_wg && facts.has_wg_quick && facts.has_flock);
        assert!(!facts.systemd);
        assert_eq!(facts.stamp, "1234 200 2026-11-24 10:00:00.123456789 +0000");
        // The framed content keeps its own blank line and loses only the frame's newline.
        assert_eq!(facts.config.text(), Some("[Interface]\nA = 1\n\n"));
        assert_eq!(facts.sysctl_file, FileFact::Absent);
        assert_eq!(facts.sysctl("net.ipv4.ip_forward"), Some(true));
        assert_eq!(facts.sysctl("net.ipv6.conf.all.forwarding"), None);
        assert!(facts.link_present);
        let live = facts.live.unwrap();
        assert_eq!(live.public_key, "PUB=");
        assert_eq!(live.listen_port, Some(51820));
        assert_eq!(live.peers.len(), 2);
        assert_eq!(live.peers[0].allowed_ips.len(), 2);
        assert_eq!(live.peers[0].keepalive, Some(25));
        assert_eq!(live.peers[1].endpoint, None);
        assert_eq!(live.peers[1].keepalive, None);
    }

    #[test]
    fn truncated_output_is_an_error_not_a_guess() {
        let cut = &CAPTURED.as_bytes()[..CAPTURED.find("@@config").unwrap() + 15];
        assert!(parse(cut).is_err());
        let no_end = CAPTURED.replace("@@end\n", "");
        assert!(parse(no_end.as_bytes()).is_err());
    }

    /// Each kind of broken answer names the section it broke in, and never quotes the content.
    #[test]
    fn a_broken_answer_says_where_it_broke() {
        let cut = "@@wgdeploy-facts 1\n@@config 500\nPrivateKey = secret\n";
        assert_eq!(
            split(cut.as_bytes()).unwrap_err().to_string(),
            "the host's answer ended inside `config`"
        );
        assert_eq!(
            split(b"@@preshared-keys x\n").unwrap_err(),
            FactsError::MalformedFrame {
                section: "preshared-keys"
            }
        );
        assert_eq!(
            split(b"@@sysctl-file 1\n\xff\n").unwrap_err().to_string(),
            "`sysctl-file` on the host is not UTF-8 text"
        );
        assert_eq!(
            parse(b"@@wgdeploy-facts 1\n").unwrap_err().to_string(),
            "the host's answer to the facts script is incomplete (the script did not run to the end)"
        );
        let dump = ["-\tPUB=\t51820\toff".to_owned(), "PEER=\t-".to_owned()];
        assert_eq!(
            parse_dump(&dump).unwrap_err().to_string(),
            "unexpected `wg show dump` output on the host"
        );
    }

    #[test]
    fn content_that_looks_like_a_header_stays_content() {
        let text = "@@end\n@@config 3\n";
        let output = format!(
            "@@wgdeploy-facts 1\n@@config {}\n{text}\n@@end\n",
            text.len()
        );
        let facts = parse(output.as_bytes()).unwrap();
        assert_eq!(facts.config.text(), Some(text));
    }

    #[test]
    fn secret_text_never_prints() {
        let secret = SecretText::new("PrivateKey = abc".into());
        assert!(!format!("{secret:?}").contains("abc"));
    }

    #[test]
    fn missing_tools_name_the_package() {
        let mut facts = parse(CAPTURED.as_bytes()).unwrap();
        facts.has_wg_quick = false;
        let why = facts.missing_tools().unwrap();
        assert!(why.contains("`wg-quick`") && why.contains("wireguard-tools"));
    }

    /// A config with `DNS` needs `resolvconf` (wg-quick calls it): the tools list says whether
    /// the host has it, and the plan refuses the host before anything is written.
    #[test]
    fn dns_without_resolvconf_is_noticed() {
        let facts = parse(CAPTURED.as_bytes()).unwrap();
        assert!(!facts.has_resolvconf);
        let with_dns = "[Interface]\nAddress = 100.64.0.1/24\nDNS = 1.1.1.1, corp.example\n";
        assert_eq!(
            crate::core::facts::dns_without_resolvconf(with_dns, &facts).as_deref(),
            Some("1.1.1.1, corp.example")
        );
        let without_dns = "[Interface]\nAddress = 100.64.0.1/24\n";
        assert_eq!(
            crate::core::facts::dns_without_resolvconf(without_dns, &facts),
            None
        );
        let with_tool = CAPTURED.replace("stat\n@@systemd", "stat\nresolvconf\n@@systemd");
        let facts = parse(with_tool.as_bytes()).unwrap();
        assert!(facts.has_resolvconf);
        assert_eq!(
            crate::core::facts::dns_without_resolvconf(with_dns, &facts),
            None
        );
    }

    /// A host without systemd whose `setsid -w` fails (the facts script says `no-setsid`) is
    /// stopped with what is missing; with systemd, or with a working setsid, it is not.
    #[test]
    fn a_host_without_systemd_and_setsid_is_named() {
        let without = CAPTURED.replace("@@systemd\n", "@@systemd\nno-setsid\n");
        let facts = parse(without.as_bytes()).unwrap();
        assert!(!facts.systemd && facts.no_setsid);
        let why = facts.missing_tools().unwrap();
        assert!(
            why.contains("neither systemd") && why.contains("setsid") && why.contains("util-linux")
        );
        assert_eq!(parse(CAPTURED.as_bytes()).unwrap().missing_tools(), None);
        let with_systemd = CAPTURED.replace("@@systemd\n", "@@systemd\nyes\nenabled enabled\n");
        let facts = parse(with_systemd.as_bytes()).unwrap();
        assert!(facts.systemd && facts.unit_enabled && facts.missing_tools().is_none());
    }

    /// The facts script's own systemd section, run in a real `sh` with a PATH holding only a
    /// `setsid` that fails: it prints `no-setsid` (this machine has no /run/systemd/system).
    #[test]
    fn the_facts_script_reports_a_missing_setsid() {
        if std::path::Path::new("/run/systemd/system").exists() {
            return; // the test machine boots systemd: the other branch runs
        }
        let dir = tempfile::tempdir().unwrap();
        let setsid = dir.path().join("setsid");
        std::fs::write(&setsid, "#!/bin/sh\nexit 1\n").unwrap();
        std::fs::set_permissions(&setsid, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let script =
            crate::remote::facts_script(&crate::core::model::InterfaceName::parse("wg0").unwrap());
        let run = |path: &str| {
            let output = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(script.text.as_ref())
                .arg("wgdeploy")
                .args(&script.args)
                .env("PATH", path)
                .output()
                .expect("sh runs");
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        let failing = format!("{}:/usr/bin:/bin", dir.path().display());
        let facts = parse(run(&failing).as_bytes()).unwrap();
        assert!(facts.no_setsid && facts.missing_tools().is_some());
        let facts = parse(run("/usr/bin:/bin:/usr/sbin:/sbin").as_bytes()).unwrap();
        assert!(!facts.no_setsid, "util-linux's setsid -w works here");
    }

    #[test]
    fn a_config_without_our_header_or_generations_is_unmanaged() {
        let facts = |config: &str, generations: &str| {
            let output = format!(
                "@@wgdeploy-facts 1\n@@tools\nwg\nwg-quick\nflock\n@@config {}\n{config}\n@@generations\n{generations}@@end\n",
                config.len()
            );
            parse(output.as_bytes()).unwrap()
        };
        let ours = "# wg0 on relay1: generated by wgdeploy; local edits are overwritten on the next apply.\n[Interface]\n";
        assert!(crate::core::facts::written_by_wgdeploy(ours));
        assert!(!crate::core::facts::unmanaged(&facts(ours, "")));
        assert!(crate::core::facts::unmanaged(&facts("[Interface]\n", "")));
        // Only the original kept by a reverted first apply: still unmanaged.
        assert!(crate::core::facts::unmanaged(&facts(
            "[Interface]\n",
            "generation=0\nkind=original\n"
        )));
        // wgdeploy has deployed here (e.g. with a template without our header, or rolled back to
        // the original): managed.
        assert!(!crate::core::facts::unmanaged(&facts(
            "[Interface]\n",
            "generation=0\nkind=original\ngeneration=1\nkind=apply\n"
        )));
        let mut absent = facts("", "");
        absent.config = FileFact::Absent;
        assert!(!crate::core::facts::unmanaged(&absent));
    }
}
