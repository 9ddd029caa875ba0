//! `wgdeploy export INVENTORY HOST`: a device's wg-quick config (or its QR code) for installing by
//! hand. The config may carry secrets (its private key, preshared keys): they go only to a terminal
//! or to a file the user named, never into a pipe or a log by default.

use crate::cli::args::ExportArgs;
use crate::cli::out::write_out;
use crate::core::device::Exported;
use crate::core::error::{Diagnostic, Error, Result};
use crate::core::model::{Inventory, printable};
use crate::store::state::{State, StateLock};
use std::io::{IsTerminal, Write};
use std::path::Path;

pub fn export(args: &ExportArgs, out: &mut dyn Write) -> Result<()> {
    let state_path = args.common.state_path();
    // It may generate the device's key and records the export: under the lock, like render.
    let _lock = StateLock::acquire(&state_path)?;
    let mut loaded = crate::engine::deploy::load(
        &args.common.inventory,
        &state_path,
        args.templates.as_deref(),
        &[],
    )?;
    crate::engine::deploy::refuse_stand_ins(&loaded)?;
    let inventory = &loaded.deployment.inventory;
    let id = device_id(inventory, &args.host)?;
    let host = &inventory.hosts[id];
    let own_key = host.declared_key().is_some();
    if args.qr && own_key {
        return Err(Diagnostic::new(format!(
            "`{}` made its own key pair, so its config has a placeholder instead of a private key, and the WireGuard apps refuse to import it",
            host.name
        ))
        .host(host.name.as_str())
        .help("export the text (without `--qr`) and type the settings into the app's tunnel that holds the key; or remove `public_key` to have wgdeploy generate a key the QR code can carry")
        .into());
    }
    let text = loaded
        .renderer
        .render_hosts(&loaded.deployment, &loaded.state, &[id])?
        .remove(0);
    // Its own private key, unless the device made its key pair; preshared keys in any case.
    let secret = !own_key || inventory.network.preshared_keys;
    let to_stdout = match args.out.as_deref() {
        None => true,
        Some(path) => path == Path::new("-"),
    };
    if to_stdout && args.out.is_none() && secret && !std::io::stdout().is_terminal() {
        return Err(Diagnostic::new(format!(
            "refusing to print the config of `{}` into a pipe or file: it carries secret keys",
            host.name
        ))
        .host(host.name.as_str())
        .help("print it on a terminal, write it with `--out FILE` (mode 0600), or say `--out -` to send it to standard output anyway")
        .into());
    }
    let payload: Vec<u8> = if args.qr {
        // The image format follows the file's extension; anything else is the terminal's blocks.
        let extension = args
            .out
            .as_deref()
            .filter(|_| !to_stdout)
            .and_then(|path| path.extension())
            .map(|ext| ext.to_string_lossy().to_ascii_lowercase());
        let encoded = match extension.as_deref() {
            Some("svg") => crate::ui::qr::svg(&text).map(String::into_bytes),
            Some("png") => crate::ui::qr::png(&text),
            _ => crate::ui::qr::terminal(&text, to_stdout && std::io::stdout().is_terminal())
                .map(String::into_bytes),
        };
        encoded.map_err(|why| {
            Error::from(
                Diagnostic::new(why)
                    .host(host.name.as_str())
                    .help("export the text instead (without `--qr`) and copy it to the device"),
            )
        })?
    } else {
        text.clone().into_bytes()
    };
    let name = host.name.as_str().to_owned();
    // The keys the config carries are saved before it leaves: an export whose key was lost would
    // never match its peers' entries.
    if loaded.state_changed {
        loaded.state.save(&state_path)?;
    }
    match args.out.as_deref().filter(|_| !to_stdout) {
        Some(path) => {
            crate::store::files::write_private_file(path, &payload)
                .map_err(|err| Error::io("write the exported config", path, &err))?;
        }
        None => write_out(out, &String::from_utf8_lossy(&payload))?,
    }
    record(&mut loaded.state, &state_path, &name, &text)?;
    let written = args.out.as_deref().filter(|_| !to_stdout);
    eprint!(
        "{}",
        crate::ui::device::export_note(&name, own_key, written)
    );
    Ok(())
}

/// Remembers what was handed out, so plans can say what changed in the device's config since.
fn record(state: &mut State, path: &Path, host: &str, text: &str) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let exported = Exported::of(text, crate::core::time::iso_utc(now));
    if state.record_export(host, exported) {
        state.save(path)?;
    }
    Ok(())
}

/// The device named `name`; a managed host or an unknown name is refused with what to do instead.
fn device_id(inventory: &Inventory, name: &str) -> Result<usize> {
    let devices: Vec<&str> = inventory
        .hosts
        .iter()
        .filter(|host| host.is_device())
        .map(|host| host.name.as_str())
        .collect();
    let listed = if devices.is_empty() {
        "this inventory has no device yet: mark one with `manage: false`".to_owned()
    } else {
        format!("its devices are: {}", devices.join(", "))
    };
    match inventory.host_id(name) {
        None => Err(Diagnostic::new(format!(
            "`{}` is not a host of the inventory",
            printable(name)
        ))
        .help(listed)
        .into()),
        Some(id) if !inventory.hosts[id].is_device() => Err(Diagnostic::new(format!(
            "`{name}` is managed over SSH: `wgdeploy apply` installs its config, so there is nothing to export"
        ))
        .host(name)
        .help(format!("to configure it by hand, mark it `manage: false` in the inventory; `wgdeploy render --out DIR` writes every host's config for review; {listed}"))
        .into()),
        Some(id) => Ok(id),
    }
}
