//! Errors as the JSON document of a command run with `--json` (the plain text is
//! [`crate::core::error::Error`]'s `Display`).

use crate::core::error::Error;
use crate::ui::json::{ErrorEntry, Errors};
use serde_json::Value;

pub fn json(error: &Error) -> Value {
    let errors = error
        .diagnostics()
        .iter()
        .map(|diagnostic| {
            let at = diagnostic.at.as_ref();
            let position = at.filter(|at| at.line > 0);
            ErrorEntry {
                message: diagnostic.message.clone(),
                file: at.map(|at| at.file.display().to_string()),
                line: position.map(|at| at.line),
                column: position.map(|at| at.column),
                host: diagnostic.host.clone(),
                help: diagnostic.help.clone(),
            }
        })
        .collect();
    crate::ui::json::to_value(Errors { errors })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::{At, Diagnostic};
    use std::path::Path;

    #[test]
    fn every_field_of_every_diagnostic() {
        let error = Error::from_all(vec![
            Diagnostic::new("`via` names `x`")
                .at(At::in_source(Path::new("i.yaml"), "a\nb\n", 2, 3))
                .host("laptop")
                .help("fix it"),
            Diagnostic::new("the inventory is empty").at(At::file(Path::new("i.yaml"))),
        ])
        .unwrap();
        assert_eq!(
            json(&error),
            serde_json::json!({"errors": [
                {"message": "`via` names `x`", "file": "i.yaml", "line": 2, "column": 3, "host": "laptop", "help": "fix it"},
                {"message": "the inventory is empty", "file": "i.yaml", "line": null, "column": null, "host": null, "help": null},
            ]})
        );
    }
}
