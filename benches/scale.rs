//! Scale benchmark: synthetic inventories timed through plan, render and write.
//!
//! ```text
//! cargo bench --bench scale                  # every scenario
//! cargo bench --bench scale -- mesh-1000     # scenarios whose name contains a filter
//! cargo bench --bench scale -- --runs 5      # 5 fresh processes per scenario, median verdict
//! TMPDIR=/dev/shm cargo bench --bench scale   # write to tmpfs: CPU cost without the disk
//! ```
//!
//! Each scenario runs in a fresh child process (this binary re-executed with `--child NAME`), so
//! the peak RSS it reports (`VmHWM`) belongs to that scenario alone. The child generates the
//! inventory (untimed), then runs two passes, each phase timed separately:
//!
//! - `cold`: no state file and an empty output directory, like a first `wgdeploy render`: keys are
//!   generated for every host and every config is written.
//! - `warm`: the state file from the cold pass and the configs it wrote, like a re-run: keys are
//!   reused and `write` only finds the files unchanged.
//!
//! The child reports one `phase PASS NAME SECONDS` line per phase plus a few counters; the parent
//! turns them into a table and bar verdicts. Adding a phase (e.g. `check`) is one more
//! `timer.time("check", || …)` in [`run_pass`]; the table picks the column up by itself.
//!
//! Bars (from the issue) apply to plan+render+write of the cold pass. Verdicts never change the
//! exit status: machines are noisy, read the `VERDICT` lines.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;
use wgdeploy::core::render::Renderer;
use wgdeploy::store::state::State;

/// Phases summed for the bars: the work `wgdeploy render` does once the inventory is loaded and
/// the keys exist.
const BAR_PHASES: &[&str] = &["plan", "render+write"];

#[derive(Clone, Copy)]
enum Shape {
    /// Every host public (has an endpoint): each host lists every other one.
    Mesh { hosts: usize },
    /// `relays` public relays; every other host is NAT-ed and homed round-robin on one of them.
    HubSpoke { hosts: usize, relays: usize },
}

struct Scenario {
    name: &'static str,
    shape: Shape,
    /// Cold plan+render+write must take at most this long.
    max_seconds: Option<f64>,
    /// Cold-pass peak RSS must stay at or under this many MB.
    max_rss_mb: Option<f64>,
    /// `check` over all ordered pairs (cold pass) must take at most this long.
    max_check_seconds: Option<f64>,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "mesh-250",
        shape: Shape::Mesh { hosts: 250 },
        max_seconds: None,
        max_rss_mb: None,
        max_check_seconds: None,
    },
    Scenario {
        name: "mesh-1000",
        shape: Shape::Mesh { hosts: 1000 },
        max_seconds: Some(1.0),
        max_rss_mb: None,
        max_check_seconds: None,
    },
    Scenario {
        name: "hub-1000",
        shape: Shape::HubSpoke {
            hosts: 1_000,
            relays: 10,
        },
        max_seconds: None,
        max_rss_mb: None,
        max_check_seconds: Some(1.0),
    },
    Scenario {
        name: "hub-10000",
        shape: Shape::HubSpoke {
            hosts: 10_000,
            relays: 10,
        },
        max_seconds: Some(1.0),
        max_rss_mb: Some(300.0),
        max_check_seconds: Some(20.0),
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(index) = args.iter().position(|arg| arg == "--child") {
        let name = args.get(index + 1).map(String::as_str).unwrap_or_default();
        let dir = args
            .iter()
            .position(|arg| arg == "--dir")
            .and_then(|index| args.get(index + 1))
            .map(PathBuf::from);
        let (Some(scenario), Some(dir)) = (find(name), dir) else {
            eprintln!("usage: scale --child SCENARIO --dir DIR");
            return ExitCode::FAILURE;
        };
        child(scenario, &dir);
        return ExitCode::SUCCESS;
    }
    parent(&args)
}

fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|scenario| scenario.name == name)
}

// ---------------------------------------------------------------------------------------------
// Parent: runs the children and prints the table.

/// What one child run reported.
#[derive(Default)]
struct Report {
    hosts: usize,
    passes: Vec<PassReport>,
}

#[derive(Default, Clone)]
struct PassReport {
    name: String,
    phases: Vec<(String, f64)>,
    bytes: u64,
    written: usize,
    unchanged: usize,
    rss_kb: u64,
}

impl PassReport {
    fn seconds(&self, phase: &str) -> Option<f64> {
        self.phases
            .iter()
            .find(|(name, _)| name == phase)
            .map(|(_, seconds)| *seconds)
    }

    fn bar_seconds(&self) -> f64 {
        BAR_PHASES
            .iter()
            .filter_map(|phase| self.seconds(phase))
            .sum()
    }

    /// Everything `wgdeploy render` does (check is reported on its own).
    fn total_seconds(&self) -> f64 {
        self.phases
            .iter()
            .filter(|(name, _)| name != "check")
            .map(|(_, seconds)| seconds)
            .sum()
    }
}

fn parent(args: &[String]) -> ExitCode {
    let mut runs = 1usize;
    let mut filters = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--runs" => match iter.next().and_then(|value| value.parse().ok()) {
                Some(value) if value > 0 => runs = value,
                _ => {
                    eprintln!("--runs needs a positive number");
                    return ExitCode::FAILURE;
                }
            },
            // `cargo bench` passes `--bench`; ignore it and any other libtest flag.
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter.to_owned()),
        }
    }
    let selected: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|scenario| {
            filters.is_empty()
                || filters
                    .iter()
                    .any(|filter| scenario.name.contains(filter.as_str()))
        })
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = SCENARIOS.iter().map(|scenario| scenario.name).collect();
        eprintln!(
            "no scenario matches {filters:?}; scenarios: {}",
            names.join(", ")
        );
        return ExitCode::FAILURE;
    }
    let exe = std::env::current_exe().expect("bench binary path");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "wgdeploy scale bench: {threads} threads, temp dir {}, {runs} run(s) per scenario",
        std::env::temp_dir().display()
    );

    let mut results: Vec<(&Scenario, Vec<Report>)> = Vec::new();
    for scenario in selected {
        let mut reports = Vec::new();
        for run in 0..runs {
            let dir = std::env::temp_dir().join(format!(
                "wgdeploy-bench-{}-{}-{run}",
                std::process::id(),
                scenario.name
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create bench temp dir");
            let output = Command::new(&exe)
                .args(["--child", scenario.name, "--dir"])
                .arg(&dir)
                .output();
            let _ = std::fs::remove_dir_all(&dir);
            // Flush this run's writes and deletions so they do not slow the next run's `write`.
            let _ = Command::new("sync").status();
            let output = output.expect("run bench child");
            if !output.status.success() {
                eprintln!(
                    "{} (run {}) failed: {}",
                    scenario.name,
                    run + 1,
                    output.status
                );
                eprint!("{}", String::from_utf8_lossy(&output.stderr));
                return ExitCode::FAILURE;
            }
            reports.push(parse_report(&String::from_utf8_lossy(&output.stdout)));
        }
        results.push((scenario, reports));
    }
    print!("{}", table(&results));
    println!();
    for (scenario, reports) in &results {
        print!("{}", verdicts(scenario, reports));
    }
    ExitCode::SUCCESS
}

fn parse_report(text: &str) -> Report {
    let mut report = Report::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let number = |index: usize| {
            fields
                .get(index)
                .and_then(|field| field.parse::<f64>().ok())
                .unwrap_or_default()
        };
        if fields.first() == Some(&"hosts") {
            report.hosts = number(1) as usize;
            continue;
        }
        let Some(pass_name) = fields.get(1) else {
            continue;
        };
        if report
            .passes
            .last()
            .is_none_or(|pass| pass.name != *pass_name)
        {
            report.passes.push(PassReport {
                name: (*pass_name).to_owned(),
                ..PassReport::default()
            });
        }
        let pass = report.passes.last_mut().expect("just pushed");
        match fields[0] {
            "phase" => pass.phases.push((
                fields.get(2).copied().unwrap_or_default().to_owned(),
                number(3),
            )),
            "bytes" => pass.bytes = number(2) as u64,
            "files" => (pass.written, pass.unchanged) = (number(2) as usize, number(3) as usize),
            "rss_kb" => pass.rss_kb = number(2) as u64,
            _ => {}
        }
    }
    report
}

fn table(results: &[(&Scenario, Vec<Report>)]) -> String {
    // Columns: every phase any child reported, in the order first seen.
    let mut phases: Vec<String> = Vec::new();
    for pass in results
        .iter()
        .flat_map(|(_, reports)| reports)
        .flat_map(|report| &report.passes)
    {
        for (phase, _) in &pass.phases {
            if !phases.contains(phase) {
                phases.push(phase.clone());
            }
        }
    }
    let mut header = vec!["scenario".to_owned(), "pass".into(), "hosts".into()];
    header.extend(phases.iter().map(|phase| format!("{phase} s")));
    header.extend([
        format!("{} s", BAR_PHASES.join("+")),
        "total s".into(),
        "MB out".into(),
        "written/same".into(),
        "peak RSS MB".into(),
    ]);
    let mut rows = vec![header];
    for (scenario, reports) in results {
        for (run, report) in reports.iter().enumerate() {
            for pass in &report.passes {
                let label = if reports.len() > 1 {
                    format!("{} #{}", scenario.name, run + 1)
                } else {
                    scenario.name.to_owned()
                };
                let mut row = vec![label, pass.name.clone(), report.hosts.to_string()];
                row.extend(phases.iter().map(|phase| {
                    pass.seconds(phase)
                        .map_or("-".into(), |seconds| format!("{seconds:.3}"))
                }));
                // The filesystem baseline row has only its own column.
                if pass.name == "fs" || pass.name == "check" {
                    row.extend(["-", "-", "-", "-", "-"].map(String::from));
                } else {
                    row.push(format!("{:.3}", pass.bar_seconds()));
                    row.push(format!("{:.3}", pass.total_seconds()));
                    row.push(format!("{:.1}", pass.bytes as f64 / 1e6));
                    row.push(format!("{}/{}", pass.written, pass.unchanged));
                    row.push(format!("{:.0}", pass.rss_kb as f64 / 1024.0));
                }
                rows.push(row);
            }
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if column < 2 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
        if index == 0 {
            let _ = writeln!(
                text,
                "{}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
            );
        }
    }
    text
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn verdicts(scenario: &Scenario, reports: &[Report]) -> String {
    let cold: Vec<&PassReport> = reports
        .iter()
        .filter_map(|report| report.passes.iter().find(|pass| pass.name == "cold"))
        .collect();
    if cold.is_empty() {
        return format!("VERDICT {}: no cold pass reported\n", scenario.name);
    }
    let of = if cold.len() > 1 {
        format!(", median of {}", cold.len())
    } else {
        String::new()
    };
    let seconds = median(cold.iter().map(|pass| pass.bar_seconds()).collect());
    let rss_mb = median(
        cold.iter()
            .map(|pass| pass.rss_kb as f64 / 1024.0)
            .collect(),
    );
    let mb_out = cold[0].bytes as f64 / 1e6;
    let mut text = String::new();
    let bar = BAR_PHASES.join("+");
    match scenario.max_seconds {
        Some(max) => {
            let verdict = if seconds <= max { "OK" } else { "OVER" };
            let _ = writeln!(
                text,
                "VERDICT {} {bar} {seconds:.3} s (bar {max:.1} s{of}, {mb_out:.0} MB out) {verdict}",
                scenario.name
            );
        }
        None => {
            let _ = writeln!(
                text,
                "        {} {bar} {seconds:.3} s (no bar{of}, {mb_out:.0} MB out)",
                scenario.name
            );
        }
    }
    let baseline = median(
        reports
            .iter()
            .filter_map(|report| report.passes.iter().find(|pass| pass.name == "fs"))
            .filter_map(|pass| pass.seconds("fs-baseline"))
            .collect(),
    );
    let render_write = median(
        cold.iter()
            .filter_map(|pass| pass.seconds("render+write"))
            .collect(),
    );
    let _ = writeln!(
        text,
        "        {} cold render+write {render_write:.3} s = {:.1}x the bare filesystem writing the same dirs and bytes ({baseline:.3} s)",
        scenario.name,
        render_write / baseline.max(1e-9)
    );
    if let Some(max) = scenario.max_check_seconds {
        let check = median(
            reports
                .iter()
                .filter_map(|report| report.passes.iter().find(|pass| pass.name == "check"))
                .filter_map(|pass| pass.seconds("check"))
                .collect(),
        );
        let verdict = if check <= max { "OK" } else { "OVER" };
        let _ = writeln!(
            text,
            "VERDICT {} check of {} ordered pairs {check:.3} s (bar {max:.0} s{of}) {verdict}",
            scenario.name,
            reports[0].hosts * reports[0].hosts.saturating_sub(1)
        );
    }
    if let Some(max) = scenario.max_rss_mb {
        let verdict = if rss_mb <= max { "OK" } else { "OVER" };
        let _ = writeln!(
            text,
            "VERDICT {} peak RSS {rss_mb:.0} MB (bar {max:.0} MB{of}) {verdict}",
            scenario.name
        );
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Child: one scenario, reported on stdout.

fn child(scenario: &Scenario, dir: &Path) {
    let inventory_path = dir.join("inventory.yaml");
    let state_path = dir.join("inventory.wgdeploy-state.json");
    let out = dir.join("out");
    let (yaml, hosts) = generate(scenario.shape);
    std::fs::write(&inventory_path, yaml).expect("write generated inventory");
    println!("hosts {hosts}");
    filesystem_baseline(&inventory_path, &dir.join("baseline"));
    for pass in ["cold", "warm"] {
        reset_peak_rss();
        run_pass(pass, &inventory_path, &state_path, &out);
        println!("rss_kb {pass} {}", peak_rss_kb());
    }
    if scenario.max_check_seconds.is_some() {
        reset_peak_rss();
        check_pass(&inventory_path, &state_path);
        println!("rss_kb check {}", peak_rss_kb());
    }
}

/// What the filesystem alone costs for the same output: the same directories and the same bytes,
/// written with plain `std::fs` on the same number of threads, before wgdeploy's cold pass (so any
/// slowdown from the filesystem filling up counts against wgdeploy, not for it). This machine's
/// disk varies by a factor of ten between runs; the ratio to this baseline does not.
fn filesystem_baseline(inventory_path: &Path, base: &Path) {
    let inventory = ok(
        wgdeploy::core::inventory::load(inventory_path),
        "load inventory",
    );
    let mut state = State::default();
    let deployment = ok(
        wgdeploy::core::pipeline::plan_loaded(inventory, &state.remembered_addresses()),
        "plan",
    );
    state.reconcile(
        &deployment.inventory,
        &deployment.addresses,
        &deployment.topology,
    );
    let texts = ok(
        ok(Renderer::new(None), "template").render_all(&deployment, &state),
        "render",
    );
    let timer = Timer { pass: "fs" };
    timer.time("fs-baseline", || {
        wgdeploy::core::parallel::map(texts.len(), |index| {
            let dir = base.join(format!("{index}"));
            std::fs::create_dir_all(&dir).expect("baseline mkdir");
            std::fs::write(dir.join("wg0.conf"), &texts[index]).expect("baseline write");
        })
    });
}

/// Times each phase of one pass and prints it as `phase PASS NAME SECONDS`.
struct Timer {
    pass: &'static str,
}

impl Timer {
    fn time<T>(&self, phase: &str, work: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = work();
        println!(
            "phase {} {phase} {:.6}",
            self.pass,
            start.elapsed().as_secs_f64()
        );
        value
    }
}

/// What `wgdeploy render` does, phase by phase. Everything is dropped before returning so the
/// next pass starts from the same heap.
fn run_pass(pass: &'static str, inventory_path: &Path, state_path: &Path, out: &Path) {
    let timer = Timer { pass };
    let mut state = timer.time("state", || ok(State::load(state_path), "load state"));
    let inventory = timer.time("load", || {
        ok(
            wgdeploy::core::inventory::load(inventory_path),
            "load inventory",
        )
    });
    let deployment = timer.time("plan", || {
        ok(
            wgdeploy::core::pipeline::plan_loaded(inventory, &state.remembered_addresses()),
            "plan",
        )
    });
    let changed = timer.time("keys", || {
        state.reconcile(
            &deployment.inventory,
            &deployment.addresses,
            &deployment.topology,
        )
    });
    timer.time("save", || {
        if changed {
            ok(state.save(state_path), "save state");
        }
    });
    // Rendering and writing are one phase: each worker thread writes the config it just rendered.
    let written = timer.time("render+write", || {
        let renderer = ok(Renderer::new(None), "template");
        ok(
            wgdeploy::store::rendered::render_to_dir(&renderer, out, &deployment, &state),
            "render",
        )
    });
    let bytes: u64 = deployment
        .inventory
        .hosts
        .iter()
        .filter_map(|host| std::fs::metadata(out.join(host.name.as_str()).join("wg0.conf")).ok())
        .map(|metadata| metadata.len())
        .sum();
    println!("bytes {pass} {bytes}");
    println!("files {pass} {} {}", written.written, written.unchanged);
}

/// `wgdeploy check INVENTORY`: render in memory, parse back, simulate every ordered pair.
fn check_pass(inventory_path: &Path, state_path: &Path) {
    let timer = Timer { pass: "check" };
    let state = ok(State::load(state_path), "load state");
    let deployment = ok(
        wgdeploy::core::pipeline::plan_inventory(inventory_path, &state.remembered_addresses()),
        "plan",
    );
    let all_reachable = timer.time("check", || {
        let renderer = ok(Renderer::new(None), "template");
        let input = ok(
            wgdeploy::check::input::from_deployment(&deployment, &state, &renderer),
            "check input",
        );
        let network = wgdeploy::check::Network::from_configs(&input.sets, &input.facts())
            .expect("check network");
        let simulation = wgdeploy::check::Simulation::new(&network);
        wgdeploy::check::Report::run(&simulation).all_reachable()
    });
    assert!(
        all_reachable,
        "the benchmark's own inventory must check clean"
    );
}

fn ok<T>(result: wgdeploy::core::error::Result<T>, what: &str) -> T {
    result.unwrap_or_else(|err| {
        eprintln!("bench {what} failed:\n{err}");
        std::process::exit(1);
    })
}

/// A synthetic inventory and its host count. Endpoints come from 198.18.0.0/15 (benchmarking
/// range) and 198.51.100.0/24 (documentation), all distinct.
fn generate(shape: Shape) -> (String, usize) {
    let mut yaml = String::from(
        "# Generated by benches/scale.rs\nnetwork:\n  interface: wg0\n  addresses: [100.64.0.0/16]\n  port: 51820\n  keepalive: 25\n\nhosts:\n",
    );
    let public_ip = |index: usize| {
        let n = index + 1;
        format!("198.{}.{}.{}", 18 + n / 65536, (n / 256) % 256, n % 256)
    };
    match shape {
        Shape::Mesh { hosts } => {
            for index in 0..hosts {
                let _ = writeln!(
                    yaml,
                    "  mesh-{index:05}: {{ endpoint: {} }}",
                    public_ip(index)
                );
            }
            (yaml, hosts)
        }
        Shape::HubSpoke { hosts, relays } => {
            for relay in 0..relays {
                let _ = writeln!(
                    yaml,
                    "  relay-{relay:02}: {{ endpoint: 198.51.100.{}, relay: true }}",
                    relay + 1
                );
            }
            for index in 0..hosts - relays {
                let _ = writeln!(
                    yaml,
                    "  node-{index:05}: {{ via: relay-{:02} }}",
                    index % relays
                );
            }
            (yaml, hosts)
        }
    }
}

/// Peak resident set size of this process so far, from `/proc/self/status` (`VmHWM`).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0), so each pass reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
