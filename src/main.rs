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
    let mut stdout = std::io::stdout().lock();
    match wgdeploy::cli::run(cli, &mut stdout) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprint!("{error}");
            ExitCode::from(1)
        }
    }
}
