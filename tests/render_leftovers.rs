//! `wgdeploy render --out DIR` run again after the inventory changed, as a user runs it: the files
//! it wrote for hosts that are gone are removed (and said so), files it did not write stay, and
//! `check --configs DIR` then sees exactly the inventory's hosts. Also: the state file's creation is
//! announced.

mod common;

use common::{mode, repo, stderr, stdout, wgdeploy};
use std::path::{Path, PathBuf};

/// A temporary copy of examples/nat-relay (relay1, web1, home, office), its output directory `out`.
struct Copy {
    dir: tempfile::TempDir,
}

impl Copy {
    fn new() -> Copy {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            repo("examples/nat-relay/inventory.yaml"),
            dir.path().join("inventory.yaml"),
        )
        .unwrap();
        Copy { dir }
    }

    fn inventory(&self) -> PathBuf {
        self.dir.path().join("inventory.yaml")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Replaces `from` (which must be there) with `to` in the inventory.
    fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.inventory()).unwrap();
        assert!(text.contains(from), "the example no longer has {from:?}");
        std::fs::write(self.inventory(), text.replacen(from, to, 1)).unwrap();
    }

    fn render(&self) -> (String, String) {
        let output = wgdeploy(&[
            "render",
            self.inventory().to_str().unwrap(),
            "--out",
            self.out().to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        (stdout(&output), stderr(&output))
    }

    /// `check --configs out --nat NAT`.
    fn check_configs(&self, nat: &str) -> std::process::Output {
        wgdeploy(&[
            "check",
            "--configs",
            self.out().to_str().unwrap(),
            "--nat",
            nat,
        ])
    }

    /// Host directories in `out` (the manifest is a file, not a host).
    fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = std::fs::read_dir(self.out())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_dir())
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        hosts.sort();
        hosts
    }
}

const OFFICE: &str = "  office:\n    via: relay1\n    ssh: { host: 198.18.0.4 }\n";

fn at(out: &Path, path: &str) -> String {
    out.join(path).display().to_string()
}

#[test]
fn the_state_file_is_announced_when_render_creates_it_and_only_then() {
    let copy = Copy::new();
    let state = copy.dir.path().join("inventory.wgdeploy-state.json");
    let plan = wgdeploy(&["plan", "--offline", copy.inventory().to_str().unwrap()]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(!state.exists(), "plan --offline never writes the state");
    assert!(!stderr(&plan).contains("created"), "{}", stderr(&plan));

    let (_, first) = copy.render();
    assert!(
        first.contains(&format!("created the state file {}", state.display())),
        "{first}"
    );
    assert!(first.contains("private keys, mode 0600"), "{first}");
    assert_eq!(mode(&state), 0o600);
    let (_, again) = copy.render();
    assert!(!again.contains("created"), "said only once: {again}");
}

#[test]
fn a_removed_host_loses_its_rendered_config_and_check_sees_only_the_inventory() {
    let copy = Copy::new();
    let out = copy.out();
    copy.render();
    assert_eq!(copy.hosts(), ["home", "office", "relay1", "web1"]);
    assert!(out.join(".wgdeploy-render.json").is_file());

    copy.edit(OFFICE, "");
    let (said, _) = copy.render();
    assert!(
        said.contains(&format!(
            "removed {} (office is no longer in the inventory)\n",
            at(&out, "office/wg0.conf")
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "removed the empty directory {}\n",
            at(&out, "office")
        )),
        "{said}"
    );
    assert_eq!(copy.hosts(), ["home", "relay1", "web1"]);
    let manifest = std::fs::read_to_string(out.join(".wgdeploy-render.json")).unwrap();
    assert!(!manifest.contains("office"), "{manifest}");

    // The manifest beside the configs is not a config to check.
    let check = copy.check_configs("home");
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("3 hosts, 6 ordered pairs: 6 reachable"),
        "{}",
        stdout(&check)
    );

    let (quiet, _) = copy.render();
    assert_eq!(
        quiet,
        format!(
            "rendered 3 hosts into {}: 0 written, 3 unchanged\n",
            out.display()
        ),
        "nothing left to remove or mention"
    );
}

#[test]
fn a_renamed_host_leaves_no_old_directory() {
    let copy = Copy::new();
    let out = copy.out();
    copy.render();
    copy.edit("  web1:\n", "  www:\n");
    let (said, _) = copy.render();
    assert!(
        said.contains(&format!(
            "removed {} (web1 is no longer in the inventory)\n",
            at(&out, "web1/wg0.conf")
        )),
        "{said}"
    );
    assert_eq!(copy.hosts(), ["home", "office", "relay1", "www"]);
    let check = copy.check_configs("home,office");
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("4 hosts, 12 ordered pairs: 12 reachable"),
        "{}",
        stdout(&check)
    );
}

#[test]
fn a_new_interface_name_replaces_the_old_file_in_each_host_directory() {
    let copy = Copy::new();
    let out = copy.out();
    copy.render();
    copy.edit("interface: wg0", "interface: wg7");
    let (said, _) = copy.render();
    assert!(
        said.contains(&format!(
            "removed {} (home's interface is wg7 now)\n",
            at(&out, "home/wg0.conf")
        )),
        "{said}"
    );
    assert!(!said.contains("directory"), "host directories stay: {said}");
    for host in ["home", "office", "relay1", "web1"] {
        let files: Vec<_> = std::fs::read_dir(out.join(host))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(files, ["wg7.conf"], "{host}");
    }
    assert!(copy.check_configs("home,office").status.success());
}

#[test]
fn files_render_did_not_write_are_never_removed() {
    let copy = Copy::new();
    let out = copy.out();
    // Before any render: a config of someone else's, and a pre-manifest render's leftover.
    std::fs::create_dir_all(out.join("old-host")).unwrap();
    std::fs::write(out.join("old-host/wg0.conf"), "[Interface]\n").unwrap();
    std::fs::write(out.join("README"), "my notes\n").unwrap();
    copy.render();
    // After it: a file beside a host's config, and a host's config edited by hand.
    std::fs::write(out.join("office/notes.txt"), "mine\n").unwrap();
    let edited = out.join("web1/wg0.conf");
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("# edited by hand\n");
    std::fs::write(&edited, &text).unwrap();

    copy.edit(OFFICE, "");
    copy.edit("  web1:\n", "  www:\n");
    let (said, _) = copy.render();
    assert!(
        said.contains(&format!(
            "removed {} (office is no longer in the inventory)\n",
            at(&out, "office/wg0.conf")
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "left {}: changed since render wrote it (web1 is no longer in the inventory)",
            at(&out, "web1/wg0.conf")
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("  {}\n", at(&out, "old-host/wg0.conf"))),
        "a config check would read is mentioned: {said}"
    );
    assert!(
        !said.contains("README") && !said.contains("notes.txt"),
        "{said}"
    );
    assert!(!said.contains("directory"), "{said}");
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), text);
    assert_eq!(
        std::fs::read_to_string(out.join("office/notes.txt")).unwrap(),
        "mine\n"
    );
    assert!(out.join("old-host/wg0.conf").is_file());
    assert!(out.join("README").is_file());

    // Once the foreign file is gone, the directory render created goes too.
    std::fs::remove_file(out.join("office/notes.txt")).unwrap();
    let (said, _) = copy.render();
    assert!(
        said.contains(&format!(
            "removed the empty directory {}\n",
            at(&out, "office")
        )),
        "{said}"
    );
    // The edited file is no longer render's: never removed, only mentioned.
    assert!(edited.is_file());
    assert!(said.contains(&at(&out, "web1/wg0.conf")), "{said}");
}

#[test]
fn a_damaged_manifest_stops_render_before_it_writes_anything() {
    let copy = Copy::new();
    let out = copy.out();
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join(".wgdeploy-render.json"), "{ not json").unwrap();
    let output = wgdeploy(&[
        "render",
        copy.inventory().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("is not the list of files `wgdeploy render` wrote: it is not valid JSON"),
        "{error}"
    );
    assert!(error.contains("help: delete it"), "{error}");
    assert!(copy.hosts().is_empty(), "nothing was rendered");
}
