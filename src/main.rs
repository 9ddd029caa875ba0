//! wgdeploy: run the CLI, print errors in the one error style, map outcomes to exit codes.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    use std::io::IsTerminal;
    use wgdeploy::ui::colour;
    let cli = wgdeploy::cli::parse();
    let no_color = std::env::var_os("NO_COLOR");
    colour::set(colour::decide(
        cli.color.into(),
        no_color.as_deref(),
        std::io::stdout().is_terminal(),
    ));
    // WGDEPLOY_STATS=FILE: what reaching the hosts cost (connections, execs, turns per host),
    // written at exit; see `transport::stats`. For benchmarks; nothing is counted without it.
    let stats = std::env::var_os("WGDEPLOY_STATS").filter(|path| !path.is_empty());
    if stats.is_some() {
        wgdeploy::transport::stats::enable();
    }
    let mut stdout = std::io::stdout().lock();
    let code = match wgdeploy::cli::run(cli, &mut stdout) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprint!("{error}");
            ExitCode::from(1)
        }
    };
    if let Some(path) = stats
        && let Err(error) = wgdeploy::transport::stats::write(std::path::Path::new(&path))
    {
        eprintln!(
            "wgdeploy: cannot write WGDEPLOY_STATS file {}: {error}",
            std::path::Path::new(&path).display()
        );
    }
    code
}
