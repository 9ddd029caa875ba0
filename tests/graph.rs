//! `wgdeploy graph` as a user runs it: the pictures of the examples (insta snapshots, and the two
//! the README shows), `--check` marking what `check` cannot prove, and output Graphviz accepts.

mod common;

use common::{repo, stderr, stdout, wgdeploy};
use std::path::Path;
use std::process::{Command, Stdio};

const EXAMPLES: &[&str] = &[
    "nat-relay",
    "multi-relay",
    "site-to-site",
    "dual-stack",
    "road-warriors",
    "exit-node",
];
/// No state file: addresses as a fresh run allocates them, whatever lies beside the examples.
const NO_STATE: &str = "/nonexistent/state.json";

fn graph(inventory: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["graph", inventory, "--state", NO_STATE];
    args.extend_from_slice(extra);
    wgdeploy(&args)
}

fn example(name: &str) -> String {
    format!("examples/{name}/inventory.yaml")
}

#[test]
fn pictures_of_the_examples_match_snapshots() {
    for name in EXAMPLES {
        for format in ["mermaid", "dot"] {
            let output = graph(&example(name), &["--format", format]);
            assert!(output.status.success(), "{name}: {}", stderr(&output));
            insta::assert_snapshot!(format!("{name}__{format}"), stdout(&output));
        }
    }
}

/// The README's pictures are the command's output, byte for byte: regenerate them with the
/// command shown above each block when this fails.
#[test]
fn readme_shows_the_pictures_the_command_draws() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    for name in ["nat-relay", "multi-relay"] {
        let command = format!("wgdeploy graph {}", example(name));
        let start = format!("<!-- {command} -->\n");
        let end = "<!-- end of picture -->";
        let begin = readme
            .find(&start)
            .unwrap_or_else(|| panic!("README.md has no `{}` marker", start.trim()))
            + start.len();
        let length = readme[begin..]
            .find(end)
            .unwrap_or_else(|| panic!("README.md: `{}` has no `{end}`", start.trim()));
        let output = graph(&example(name), &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        let expected = format!("```mermaid\n{}```\n", stdout(&output));
        assert!(
            readme[begin..begin + length] == expected,
            "README.md's picture of {name} is not what `{command}` draws; put this between the markers:\n{expected}"
        );
    }
}

#[test]
fn check_proves_every_pair_of_the_examples() {
    for name in EXAMPLES {
        let output = graph(&example(name), &["--check"]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(
            text.contains("proven reachable both ways") && !text.contains("-.-"),
            "{name}: {text}"
        );
    }
}

/// A template that leaves out every endpoint in home's config: home can dial nobody, and nobody
/// can dial home (it is behind NAT), so all three pairs with home are unreachable.
fn home_cannot_dial(dir: &Path) {
    let template = std::fs::read_to_string(repo("templates/wg-quick.conf.j2")).unwrap();
    let broken = template.replace(
        "{% if peer.endpoint %}",
        "{% if peer.endpoint and host != \"home\" %}",
    );
    assert_ne!(broken, template, "the template still has its endpoint line");
    std::fs::write(dir.join("wg-quick.conf.j2"), broken).unwrap();
}

#[test]
fn check_marks_the_pairs_it_cannot_prove() {
    let dir = tempfile::tempdir().unwrap();
    home_cannot_dial(dir.path());
    let templates = dir.path().to_str().unwrap();
    let output = graph(
        &example("nat-relay"),
        &["--check", "--templates", templates],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    // Home's tunnels turn dashed; home and office have no tunnel, so a dashed edge is added.
    for line in [
        "h_home -.->|\"home relay · relayed: office · ✗ unreachable\"| h_relay1",
        "h_home -.->|\"direct · ✗ unreachable\"| h_web1",
        "h_office -->|\"home relay · relayed: home\"| h_relay1",
        "h_relay1 ---|\"direct\"| h_web1",
        "h_home -.-|\"✗ unreachable\"| h_office",
        "linkStyle 0,1,5 stroke:#d32f2f",
        "check: 3 of 6 pairs of hosts not proven (dashed red)",
        "home ⇄ office: ✗ unreachable",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    let error = stderr(&output);
    assert!(
        error.contains("check cannot prove 3 of 6 pairs")
            && error.contains(&format!("--templates {templates}")),
        "{error}"
    );

    let output = graph(
        &example("nat-relay"),
        &["--check", "--templates", templates, "--format", "dot"],
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("\"home\" -- \"office\" [label=\"✗ unreachable\", style=dashed"),
        "{text}"
    );
    assert!(text.contains("\"office\" -- \"web1\" [label=\"direct\", dir=forward];"));
    dot_accepts(&text);
}

#[test]
fn templates_without_check_is_a_usage_error() {
    let output = graph(&example("nat-relay"), &["--templates", "templates"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--check"), "{}", stderr(&output));
}

/// Names that are valid host names but keywords or odd characters in Mermaid and DOT.
#[test]
fn awkward_names_stay_distinct_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.yaml");
    std::fs::write(
        &inventory,
        "network: { addresses: [100.64.0.0/24] }
hosts:
  end: { endpoint: 198.51.100.1, relay: true }
  subgraph: { endpoint: 198.51.100.2 }
  a-b: { via: end }
  a_b: { via: end }
  a.b: { via: end, routes: [198.18.1.0/24, 198.18.2.0/24, 198.18.3.0/24, 198.18.4.0/24] }
  1graph: {}
",
    )
    .unwrap();
    let inventory = inventory.to_str().unwrap();
    let output = graph(inventory, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for node in [
        "h_end[\"end<br/>",
        "h_subgraph[\"subgraph<br/>",
        "h_a_b_2[\"a-b<br/>",
        "h_a_b_3[\"a.b<br/>",
        "h_a_b_4[\"a_b<br/>",
        "subgraph g_nat_end[\"behind NAT, homed on end\"]",
        "h_1graph[\"1graph<br/>",
        "routes 198.18.1.0/24, 198.18.2.0/24, 198.18.3.0/24 and 1 more",
    ] {
        assert!(text.contains(node), "missing `{node}` in:\n{text}");
    }
    let output = graph(inventory, &["--format", "dot"]);
    assert!(output.status.success(), "{}", stderr(&output));
    dot_accepts(&stdout(&output));
}

#[test]
fn dot_output_of_every_example_is_valid_graphviz() {
    for name in EXAMPLES {
        let output = graph(&example(name), &["--format", "dot"]);
        assert!(output.status.success(), "{}", stderr(&output));
        dot_accepts(&stdout(&output));
    }
}

/// Runs Graphviz's `dot -Tsvg` on the text when it is installed (Debian: graphviz); the picture
/// must come out as SVG with no complaint.
fn dot_accepts(text: &str) {
    use std::io::Write;
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("skipped: Graphviz `dot` is not installed");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "dot: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("<svg"));
}
