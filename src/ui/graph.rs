//! `wgdeploy graph`: the picture of the network as Mermaid (renders in Markdown viewers) or
//! Graphviz DOT (`dot -Tsvg`). Draws `core::graph::Graph`; with `--check`, marks the pairs of
//! hosts that `check` could not prove reachable (dashed red) and adds a note listing them.

use crate::check::{Report, Simulation, Verdict};
use crate::core::graph::{Edge, Graph, Group, Tunnel};
use crate::core::model::HostId;
use crate::core::render::Deployment;
use crate::core::topology::Carries;
use std::collections::HashMap;
use std::fmt::Write;

/// How many names a label spells out before "and N more".
const NAMES_SHOWN: usize = 3;
/// How many routes a host's box spells out.
const ROUTES_SHOWN: usize = 3;
/// Unproven pairs with no tunnel between them drawn as extra edges; beyond, the note counts them.
const EXTRA_EDGES_DRAWN: usize = 40;
/// Unproven pairs the note names.
const NOTE_PAIRS: usize = 10;
/// The colour of what `check` could not prove.
const RED: &str = "#d32f2f";

/// Why `check` could not prove a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Reachable only under a condition (e.g. the other side must send first).
    Conditional,
    Unreachable,
}

/// One unordered pair of hosts that is not plainly reachable both ways (`a`'s name sorts first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unproven {
    pub a: HostId,
    pub b: HostId,
    pub mark: Mark,
}

/// What `check` found, in inventory terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// Unordered pairs of hosts.
    pub pairs: usize,
    /// Sorted by the two names.
    pub unproven: Vec<Unproven>,
}

/// The pairs of `check`'s report that are not plainly reachable, mapped to inventory hosts by name.
pub fn proof(deployment: &Deployment, simulation: &Simulation, report: &Report) -> Proof {
    let inventory = &deployment.inventory;
    let ids: HashMap<&str, HostId> = inventory
        .hosts
        .iter()
        .enumerate()
        .map(|(id, host)| (host.name.as_str(), id))
        .collect();
    let nodes = &simulation.network.nodes;
    let host_of = |index: usize| ids.get(nodes[index].name.as_str()).copied();
    let mut unproven = Vec::new();
    for from in 0..report.hosts {
        for to in from + 1..report.hosts {
            if report.plainly_reachable(from, to) {
                continue;
            }
            let (Some(a), Some(b)) = (host_of(from), host_of(to)) else {
                continue;
            };
            let mark = match report.pair(from, to) {
                Verdict::Unreachable(_) => Mark::Unreachable,
                _ => Mark::Conditional,
            };
            let (a, b) = if inventory.hosts[a].name <= inventory.hosts[b].name {
                (a, b)
            } else {
                (b, a)
            };
            unproven.push(Unproven { a, b, mark });
        }
    }
    let name = |id: HostId| &inventory.hosts[id].name;
    unproven.sort_by(|x, y| (name(x.a), name(x.b)).cmp(&(name(y.a), name(y.b))));
    let hosts = report.hosts;
    Proof {
        pairs: hosts * hosts.saturating_sub(1) / 2,
        unproven,
    }
}

/// The graph in Mermaid's flowchart syntax.
pub fn mermaid(deployment: &Deployment, graph: &Graph, proof: Option<&Proof>) -> String {
    let drawing = Drawing::new(deployment, graph, proof);
    let ids = mermaid_ids(
        deployment
            .inventory
            .hosts
            .iter()
            .map(|host| host.name.as_str()),
    );
    let mut out = String::new();
    let _ = writeln!(out, "flowchart BT");
    let _ = writeln!(out, "    %% {LEGEND}");
    for cluster in &drawing.clusters {
        let _ = writeln!(
            out,
            "    subgraph {}[\"{}\"]",
            match &cluster.relay {
                Some(relay) => format!("g_nat_{}", &ids[relay.as_str()][2..]),
                None => format!("g_{}", cluster.key),
            },
            mermaid_text(&cluster.title)
        );
        for node in &cluster.nodes {
            let lines: Vec<String> = node.lines.iter().map(|line| mermaid_text(line)).collect();
            let _ = writeln!(
                out,
                "        {}[\"{}\"]",
                ids[node.name.as_str()],
                lines.join("<br/>")
            );
        }
        let _ = writeln!(out, "    end");
    }
    let mut red = Vec::new();
    for (index, edge) in drawing.edges.iter().enumerate() {
        let link = match (edge.unproven, edge.arrow) {
            (false, false) => "---",
            (false, true) => "-->",
            (true, false) => "-.-",
            (true, true) => "-.->",
        };
        if edge.unproven {
            red.push(index.to_string());
        }
        let _ = writeln!(
            out,
            "    {} {link}|\"{}\"| {}",
            ids[edge.from.as_str()],
            mermaid_text(&edge.label),
            ids[edge.to.as_str()]
        );
    }
    if !red.is_empty() {
        let _ = writeln!(
            out,
            "    linkStyle {} stroke:{RED},stroke-width:2px,color:{RED}",
            red.join(",")
        );
    }
    if let Some(note) = &drawing.note {
        let lines: Vec<String> = note.lines.iter().map(|line| mermaid_text(line)).collect();
        let _ = writeln!(out, "    check_note[\"{}\"]", lines.join("<br/>"));
        let stroke = if note.all_proven { "#2e7d32" } else { RED };
        let _ = writeln!(out, "    style check_note stroke:{stroke},stroke-width:2px");
    }
    out
}

/// The graph in Graphviz's DOT language (`dot -Tsvg`).
pub fn dot(deployment: &Deployment, graph: &Graph, proof: Option<&Proof>) -> String {
    let drawing = Drawing::new(deployment, graph, proof);
    let mut out = String::new();
    let _ = writeln!(out, "// {LEGEND}");
    let _ = writeln!(out, "graph wgdeploy {{");
    // Bottom to top, as in the Mermaid picture: hosts behind NAT below the relays they dial.
    let _ = writeln!(out, "    rankdir=BT;");
    let _ = writeln!(
        out,
        "    node [shape=box, style=rounded, fontname=\"sans-serif\"];"
    );
    let _ = writeln!(out, "    edge [fontname=\"sans-serif\", fontsize=10];");
    for cluster in &drawing.clusters {
        let _ = writeln!(
            out,
            "    subgraph \"cluster_{}\" {{",
            dot_text(&cluster.key)
        );
        let _ = writeln!(out, "        label=\"{}\";", dot_text(&cluster.title));
        for node in &cluster.nodes {
            let lines: Vec<String> = node.lines.iter().map(|line| dot_text(line)).collect();
            let _ = writeln!(
                out,
                "        \"{}\" [label=\"{}\"];",
                dot_text(&node.name),
                lines.join("\\n")
            );
        }
        let _ = writeln!(out, "    }}");
    }
    for edge in &drawing.edges {
        let mut attributes = vec![format!("label=\"{}\"", dot_text(&edge.label))];
        if edge.arrow {
            attributes.push("dir=forward".into());
        }
        if edge.unproven {
            attributes.push(format!(
                "style=dashed, color=\"{RED}\", fontcolor=\"{RED}\", penwidth=2"
            ));
        }
        let _ = writeln!(
            out,
            "    \"{}\" -- \"{}\" [{}];",
            dot_text(&edge.from),
            dot_text(&edge.to),
            attributes.join(", ")
        );
    }
    if let Some(note) = &drawing.note {
        let lines: Vec<String> = note.lines.iter().map(|line| dot_text(line)).collect();
        let colour = if note.all_proven { "#2e7d32" } else { RED };
        // Host names never contain a space, so this id cannot be a host's.
        let _ = writeln!(
            out,
            "    \"wgdeploy check\" [shape=note, color=\"{colour}\", label=\"{}\"];",
            lines.join("\\n")
        );
    }
    let _ = writeln!(out, "}}");
    out
}

const LEGEND: &str = "wgdeploy graph: an arrow points from a host behind NAT to the host it dials \
    (and keeps alive); a plain line is dialled from either side";

/// What both formats draw, with every label already worded.
struct Drawing {
    clusters: Vec<ClusterView>,
    edges: Vec<EdgeView>,
    note: Option<Note>,
}

struct ClusterView {
    /// Unique among clusters, for ids.
    key: String,
    /// The relay whose NAT-ed hosts these are.
    relay: Option<String>,
    title: String,
    nodes: Vec<NodeView>,
}

struct NodeView {
    name: String,
    lines: Vec<String>,
}

struct EdgeView {
    from: String,
    to: String,
    label: String,
    arrow: bool,
    unproven: bool,
}

struct Note {
    lines: Vec<String>,
    all_proven: bool,
}

impl Drawing {
    fn new(deployment: &Deployment, graph: &Graph, proof: Option<&Proof>) -> Drawing {
        let hosts = &deployment.inventory.hosts;
        let name = |id: HostId| hosts[id].name.to_string();
        let clusters = graph
            .clusters
            .iter()
            .map(|cluster| {
                let (key, title) = match cluster.group {
                    Group::Relays => ("relays".to_owned(), "relays".to_owned()),
                    Group::Public => ("public".to_owned(), "public".to_owned()),
                    Group::BehindRelay(relay) => (
                        format!("nat_{}", name(relay)),
                        format!("behind NAT, homed on {}", name(relay)),
                    ),
                    Group::BehindNat => ("nat".to_owned(), "behind NAT, no relay".to_owned()),
                };
                let relay = match cluster.group {
                    Group::BehindRelay(relay) => Some(name(relay)),
                    _ => None,
                };
                ClusterView {
                    key,
                    relay,
                    title,
                    nodes: cluster
                        .members
                        .iter()
                        .map(|&id| NodeView {
                            name: name(id),
                            lines: node_lines(deployment, id),
                        })
                        .collect(),
                }
            })
            .collect();
        let mark_of: HashMap<(HostId, HostId), Mark> = proof
            .map(|proof| {
                proof
                    .unproven
                    .iter()
                    .flat_map(|pair| [((pair.a, pair.b), pair.mark), ((pair.b, pair.a), pair.mark)])
                    .collect()
            })
            .unwrap_or_default();
        let mut edges: Vec<EdgeView> = graph
            .edges
            .iter()
            .map(|edge| {
                let mark = mark_of.get(&(edge.from, edge.to)).copied();
                let mut label = edge_label(deployment, edge);
                if let Some(mark) = mark {
                    let _ = write!(label, " · {}", mark_text(mark));
                }
                EdgeView {
                    from: name(edge.from),
                    to: name(edge.to),
                    label,
                    arrow: edge.one_way,
                    unproven: mark.is_some(),
                }
            })
            .collect();
        let mut note = None;
        if let Some(proof) = proof {
            let tunnels: std::collections::HashSet<(HostId, HostId)> = graph
                .edges
                .iter()
                .flat_map(|edge| [(edge.from, edge.to), (edge.to, edge.from)])
                .collect();
            let extra: Vec<&Unproven> = proof
                .unproven
                .iter()
                .filter(|pair| !tunnels.contains(&(pair.a, pair.b)))
                .collect();
            edges.extend(extra.iter().take(EXTRA_EDGES_DRAWN).map(|pair| EdgeView {
                from: name(pair.a),
                to: name(pair.b),
                label: mark_text(pair.mark).to_owned(),
                arrow: false,
                unproven: true,
            }));
            note = Some(note_of(
                proof,
                extra.len().saturating_sub(EXTRA_EDGES_DRAWN),
                &name,
            ));
        }
        Drawing {
            clusters,
            edges,
            note,
        }
    }
}

/// A host's box: its name, overlay addresses, endpoint and routed subnets.
fn node_lines(deployment: &Deployment, id: HostId) -> Vec<String> {
    let host = &deployment.inventory.hosts[id];
    let addresses: Vec<String> = deployment.addresses[id]
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut lines = vec![host.name.to_string(), addresses.join(", ")];
    let endpoints: Vec<String> = host.endpoints.iter().map(ToString::to_string).collect();
    match endpoints.len() {
        0 => {}
        1 => lines.push(format!("endpoint {}", endpoints[0])),
        _ => lines.push(format!("endpoints {}", endpoints.join(", "))),
    }
    if !host.routes.is_empty() {
        let routes: Vec<String> = host.routes.iter().map(ToString::to_string).collect();
        lines.push(format!("routes {}", summarise(&routes, ROUTES_SHOWN)));
    }
    if host.is_device() {
        lines.push("device (not managed over SSH)".to_owned());
    }
    if host.exit {
        lines.push("exit: offers its uplink".to_owned());
    }
    if let Some(exit) = host.use_exit {
        lines.push(format!(
            "internet via {}",
            deployment.inventory.hosts[exit].name
        ));
    }
    lines
}

/// Whether one end sends its internet traffic (a /0) through this tunnel to the other.
fn carries_internet(deployment: &Deployment, edge: &Edge) -> bool {
    let sends = |me: HostId, other: HostId| {
        deployment.topology.hosts[me]
            .peers
            .iter()
            .filter(|peer| peer.host == other)
            .flat_map(|peer| &peer.allowed)
            .any(|allowed| matches!(allowed.carries, Carries::Internet(_)))
    };
    sends(edge.from, edge.to) || sends(edge.to, edge.from)
}

/// What a tunnel carries, in a few words: the hosts whose traffic a relay passes through it,
/// by name when they are few, else by what they are.
fn edge_label(deployment: &Deployment, edge: &Edge) -> String {
    let label = tunnel_label(deployment, edge);
    if carries_internet(deployment, edge) {
        format!("{label} · internet")
    } else {
        label
    }
}

fn tunnel_label(deployment: &Deployment, edge: &Edge) -> String {
    let hosts = &deployment.inventory.hosts;
    let names = |ids: &[HostId]| -> Vec<String> {
        ids.iter().map(|&id| hosts[id].name.to_string()).collect()
    };
    let (kind, relayed) = match edge.tunnel {
        Tunnel::Direct => return "direct".to_owned(),
        Tunnel::Home => ("home relay", &edge.relayed),
        Tunnel::Mesh => ("relay mesh", &edge.relayed),
    };
    let what = if relayed.is_empty() {
        return kind.to_owned();
    } else if relayed.len() <= NAMES_SHOWN {
        names(relayed).join(", ")
    } else if edge.tunnel == Tunnel::Mesh {
        format!("the {} hosts homed on them", relayed.len())
    } else {
        // Everything but the few hosts the NAT-ed end talks to directly (public hosts).
        let direct: Vec<HostId> = deployment.topology.hosts[edge.from]
            .peers
            .iter()
            .map(|peer| peer.host)
            .filter(|&id| id != edge.to)
            .collect();
        match direct.len() {
            0 => "every other host".to_owned(),
            _ => format!(
                "every other host but {}",
                summarise(&names(&direct), NAMES_SHOWN)
            ),
        }
    };
    format!("{kind} · relayed: {what}")
}

fn mark_text(mark: Mark) -> &'static str {
    match mark {
        Mark::Conditional => "⚠ conditional",
        Mark::Unreachable => "✗ unreachable",
    }
}

fn note_of(proof: &Proof, not_drawn: usize, name: &dyn Fn(HostId) -> String) -> Note {
    if proof.unproven.is_empty() {
        return Note {
            lines: vec![format!(
                "check: all {} pairs of hosts proven reachable both ways",
                proof.pairs
            )],
            all_proven: true,
        };
    }
    let mut lines = vec![format!(
        "check: {} of {} pairs of hosts not proven (dashed red)",
        proof.unproven.len(),
        proof.pairs
    )];
    lines.extend(proof.unproven.iter().take(NOTE_PAIRS).map(|pair| {
        format!(
            "{} ⇄ {}: {}",
            name(pair.a),
            name(pair.b),
            mark_text(pair.mark)
        )
    }));
    let unnamed = proof.unproven.len().saturating_sub(NOTE_PAIRS);
    if unnamed > 0 {
        lines.push(format!("and {unnamed} more"));
    }
    if not_drawn > 0 {
        lines.push(format!("{not_drawn} pairs without a tunnel are not drawn"));
    }
    lines.push("wgdeploy check INVENTORY explains each pair".to_owned());
    Note {
        lines,
        all_proven: false,
    }
}

/// `a, b, c and 2 more`.
fn summarise(items: &[String], shown: usize) -> String {
    if items.len() <= shown {
        items.join(", ")
    } else {
        format!(
            "{} and {} more",
            items[..shown].join(", "),
            items.len() - shown
        )
    }
}

/// Mermaid ids for host names: `h_` and the name with every character but ASCII letters and
/// digits as `_`, so no name becomes a keyword (`end`) or breaks the syntax; names that would
/// share an id (`a-b`, `a_b`) get `_2`, `_3`… in name order.
fn mermaid_ids<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, String> {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    let base = |name: &str| -> String {
        let plain: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        format!("h_{plain}")
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for name in &names {
        *count.entry(base(name)).or_default() += 1;
    }
    let mut taken: std::collections::HashSet<String> = count.keys().cloned().collect();
    let mut ids = HashMap::new();
    for name in names {
        let plain = base(name);
        let id = if count[&plain] == 1 {
            plain
        } else {
            (2..)
                .map(|n| format!("{plain}_{n}"))
                .find(|id| !taken.contains(id))
                .expect("a free id")
        };
        taken.insert(id.clone());
        ids.insert(name, id);
    }
    ids
}

/// Text inside a quoted Mermaid label: quotes, `#`, markup and `|` as Mermaid's entity codes.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a quoted DOT string.
fn dot_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_ids_are_distinct_and_plain() {
        let names = ["a-b", "a_b", "a.b", "ab", "end", "a_b_2", "x\"y"];
        let ids = mermaid_ids(names.iter().copied());
        let id = |name: &str| ids[name].as_str();
        assert_eq!(id("ab"), "h_ab");
        assert_eq!(id("end"), "h_end");
        assert_eq!(id("x\"y"), "h_x_y");
        // a-b, a.b and a_b share `h_a_b`; `h_a_b_2` is a_b_2's own, so they skip it.
        assert_eq!(id("a_b_2"), "h_a_b_2");
        assert_eq!(id("a-b"), "h_a_b_3");
        assert_eq!(id("a.b"), "h_a_b_4");
        assert_eq!(id("a_b"), "h_a_b_5");
        let unique: std::collections::HashSet<&String> = ids.values().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn labels_cannot_break_out_of_their_quotes() {
        assert_eq!(
            mermaid_text("a\"]; b --> c|#<b>&`\n"),
            "a#quot;]; b --#gt; c#124;#35;#lt;b#gt;#amp;#96; "
        );
        assert_eq!(dot_text("a\"] b\\n\n"), "a\\\"] b\\\\n ");
    }

    #[test]
    fn long_lists_are_summarised() {
        let names: Vec<String> = (1..=7).map(|n| format!("h{n}")).collect();
        assert_eq!(summarise(&names, 3), "h1, h2, h3 and 4 more");
        assert_eq!(summarise(&names[..3], 3), "h1, h2, h3");
    }
}
