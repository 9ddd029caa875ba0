//! Reading an inventory file: YAML → a tree of located nodes (`tree`, serde-saphyr) → the settings
//! as written (`structure` → `raw`) → the validated model (`validate`). Every stage after the YAML
//! syntax reports all of its problems at once.

mod checker;
mod raw;
mod structure;
mod suggest;
mod tree;
mod validate;
mod yaml_error;

pub(crate) use suggest::edit_distance;
pub use validate::settings::{MTU_MAX, mtu_min};
pub use validate::{DEFAULT_KEEPALIVE, DEFAULT_PORT};

use crate::core::error::{At, Diagnostic, Error, Result};
use crate::core::model::Inventory;
use serde_saphyr::Spanned;
use std::path::Path;

/// Reads and validates the inventory at `path`.
pub fn load(path: &Path) -> Result<Inventory> {
    let source =
        std::fs::read_to_string(path).map_err(|err| Error::io("read inventory", path, &err))?;
    parse(path, &source)
}

/// Validates inventory text; `path` is only used to name the file in errors.
pub fn parse(path: &Path, source: &str) -> Result<Inventory> {
    let has_content = source.lines().any(|line| {
        !line.trim().is_empty() && !line.trim_start().starts_with('#') && line.trim() != "---"
    });
    if !has_content {
        return Err(Diagnostic::new("the inventory is empty")
            .at(At::file(path))
            .help("start from `examples/nat-relay/inventory.yaml`")
            .into());
    }
    // Only YAML syntax (and the size limits) can fail here: what the values mean is read by
    // `structure`, which reports every problem instead of the first.
    let tree: Spanned<tree::Node> =
        serde_saphyr::from_str(source).map_err(|err| yaml_error::yaml_error(path, source, &err))?;
    let mut checker = checker::Checker::new(path, source);
    let raw = structure::read(&mut checker, tree);
    validate::validate(checker, raw)
}
