//! `wgdeploy export` and devices (`manage: false`) as a user meets them: the exported config, the
//! QR code, the 0600 file, what is refused, and `check` on an inventory with devices.

mod common;

use common::{fixed_key, fixed_state, mode, repo, stderr, stdout, wgdeploy};
use std::path::{Path, PathBuf};

const ROAD_WARRIORS: &str = "examples/road-warriors/inventory.yaml";

fn export(state: &Path, host: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        ROAD_WARRIORS,
        host,
        "--state",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    wgdeploy(&args)
}

fn fixture(dir: &Path) -> PathBuf {
    fixed_state(&repo(ROAD_WARRIORS), dir)
}

#[test]
fn a_device_with_a_generated_key_exports_a_complete_config() {
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path());
    let output = export(&state, "phone-ana", &["--out", "-"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let config = stdout(&output);
    assert!(config.contains(&format!("PrivateKey = {}\n", fixed_key("phone-ana"))));
    insta::assert_snapshot!("export__phone-ana", config);
    // What the user is told goes to stderr, never the config.
    assert!(
        !stderr(&output).contains("PrivateKey"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_device_with_its_own_key_pair_never_gets_a_private_key_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    // The fixture holds a private key for every host, laptop-ana included: export drops it.
    let state = fixture(dir.path());
    let held = fixed_key("laptop-ana");
    let output = export(&state, "laptop-ana", &["--out", "-"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let config = stdout(&output);
    insta::assert_snapshot!("export__laptop-ana", config);
    assert!(config.contains("PrivateKey = <paste the device's private key here>\n"));
    assert!(
        config.contains("# PublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="),
        "{config}"
    );
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(!saved.contains(&held) && !config.contains(&held), "{saved}");
    let entry = &serde_json::from_str::<serde_json::Value>(&saved).unwrap()["hosts"]["laptop-ana"];
    assert!(entry.get("private_key").is_none(), "{entry}");
    assert!(stderr(&output).contains("laptop-ana made its own key pair"));
    // wg and wg-quick refuse the placeholder instead of running a wrong key.
    assert!(!config.lines().any(|line| {
        line.strip_prefix("PrivateKey = ")
            .is_some_and(|key| wgdeploy::core::keys::PrivateKey::from_base64(key).is_some())
    }));
}

#[test]
fn out_writes_the_file_0600_and_records_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path());
    let file = dir.path().join("phone-ben.conf");
    let output = export(&state, "phone-ben", &["--out", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&file), 0o600);
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("wrote the config of phone-ben to"),
        "{}",
        stderr(&output)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&fixed_key("phone-ben")));
    // The state remembers the export without a copy of the key in it.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let exported = &saved["hosts"]["phone-ben"]["exported"];
    let config = exported["config"].as_str().unwrap();
    assert!(config.contains("PrivateKey = (redacted)"), "{config}");
    assert!(
        exported["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(mode(&state), 0o600);
}

#[test]
fn a_secret_is_not_printed_into_a_pipe_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path());
    // The test's stdout is a pipe.
    let output = export(&state, "phone-cleo", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    let err = stderr(&output);
    assert!(
        err.contains("refusing to print the config of `phone-cleo` into a pipe or file")
            && err.contains("`--out -`"),
        "{err}"
    );
}

#[test]
fn the_qr_code_carries_the_config_and_svg_and_png_images_are_written_0600() {
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path());
    let output = export(&state, "phone-ana", &["--qr", "--out", "-"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let code = stdout(&output);
    assert!(code.contains('█') && !code.contains("PrivateKey"), "{code}");
    let svg = dir.path().join("phone-ana.svg");
    let output = export(
        &state,
        "phone-ana",
        &["--qr", "--out", svg.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&svg), 0o600);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    // `.png`: a PNG image, 0600 like every file carrying the config.
    let png = dir.path().join("phone-ana.png");
    let output = export(
        &state,
        "phone-ana",
        &["--qr", "--out", png.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&png), 0o600);
    let image = std::fs::read(&png).unwrap();
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[test]
fn what_export_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path());
    let cases = [
        (
            "relay1",
            vec!["--out", "-"],
            "`relay1` is managed over SSH: `wgdeploy apply` installs its config",
            "its devices are: phone-ana, phone-ben, phone-cleo, laptop-ana, laptop-ben",
        ),
        (
            "tablet",
            vec!["--out", "-"],
            "`tablet` is not a host of the inventory",
            "its devices are:",
        ),
        (
            "laptop-ana",
            vec!["--qr", "--out", "-"],
            "`laptop-ana` made its own key pair",
            "export the text (without `--qr`)",
        ),
    ];
    for (host, extra, message, help) in cases {
        let output = export(&state, host, &extra);
        assert_eq!(output.status.code(), Some(1), "{host}");
        assert!(stdout(&output).is_empty(), "{host}");
        let err = stderr(&output);
        assert!(err.contains(message) && err.contains(help), "{host}: {err}");
    }
}

#[test]
fn check_proves_devices_reachable_from_the_inventory_and_from_rendered_files() {
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path());
    let output = wgdeploy(&["check", ROAD_WARRIORS, "--state", state.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("every host reaches every other host, both ways"),
        "{}",
        stdout(&output)
    );
    // The rendered files: laptop-ana's has the placeholder and names its own public key.
    let out = dir.path().join("out");
    let output = wgdeploy(&[
        "render",
        ROAD_WARRIORS,
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = wgdeploy(&[
        "check",
        "--configs",
        out.to_str().unwrap(),
        "--nat",
        "phone-ana,phone-ben,phone-cleo,laptop-ana,laptop-ben",
    ]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("every host reaches every other host, both ways"));
}

#[test]
fn plans_say_what_changed_in_a_device_config_since_its_export() {
    use wgdeploy::core::device::SinceExport;
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.yaml");
    let original = std::fs::read_to_string(repo(ROAD_WARRIORS)).unwrap();
    std::fs::write(&inventory, &original).unwrap();
    let state = dir.path().join("state.json");
    let views = || {
        let loaded = wgdeploy::engine::deploy::load(&inventory, &state, None, &[]).unwrap();
        wgdeploy::engine::devices::views(&loaded.deployment, &loaded.state, &loaded.renderer)
            .unwrap()
    };
    assert!(views().iter().all(|view| view.since == SinceExport::Never));
    let output = wgdeploy(&[
        "export",
        inventory.to_str().unwrap(),
        "phone-ana",
        "--state",
        state.to_str().unwrap(),
        "--out",
        dir.path().join("p.conf").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let phone = |views: Vec<wgdeploy::engine::devices::DeviceView>| {
        views
            .into_iter()
            .find(|view| view.name == "phone-ana")
            .unwrap()
    };
    assert!(matches!(
        phone(views()).since,
        SinceExport::Unchanged { .. }
    ));
    // A route behind the relay: the phone's entry for it changes.
    std::fs::write(
        &inventory,
        original.replace(
            "    relay: true\n",
            "    relay: true\n    routes: [198.18.7.0/24]\n",
        ),
    )
    .unwrap();
    let SinceExport::Changed { diff, .. } = phone(views()).since else {
        panic!("the phone's AllowedIPs changed");
    };
    assert!(
        diff.contains("+AllowedIPs = 100.64.0.0/24, 198.18.7.0/24"),
        "{diff}"
    );
    assert!(!diff.contains(&fixed_key("phone-ana")));
}

#[test]
fn a_device_with_its_own_key_pair_cannot_be_rekeyed_by_wgdeploy() {
    let dir = tempfile::tempdir().unwrap();
    let state = fixture(dir.path());
    // Refused while loading, before any host is contacted.
    let output = wgdeploy(&[
        "plan",
        ROAD_WARRIORS,
        "--rekey",
        "laptop-ana",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("`--rekey laptop-ana`: the inventory declares this device's public key")
            && err.contains("make a new key pair on the device"),
        "{err}"
    );
}
