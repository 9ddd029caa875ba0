//! One setting's value: text, a whole number, `true`/`false`, or one address or a list of them.
//! A value of another kind is reported, in the words of what YAML read.

use super::Section;
use crate::core::inventory::checker::Checker;
use crate::core::inventory::raw::{OneOrMany, PeerPrefixes, Scalar};
use crate::core::inventory::tree::Node;
use crate::core::model::printable_excerpt;
use serde_saphyr::{Location, Spanned};

/// The text of a scalar as written: `yes` stays `yes` (YAML would read true), `0x10` stays `0x10`.
pub(super) fn scalar_text(checker: &Checker, node: &Node, at: &Location) -> String {
    match node {
        Node::Text(text) => text.clone(),
        other => checker
            .written(at)
            .map(str::to_owned)
            .unwrap_or_else(|| match other {
                Node::Bool(value) => value.to_string(),
                Node::Int(value) => value.to_string(),
                Node::Float(value) => value.to_string(),
                _ => String::new(),
            }),
    }
}

/// What YAML read, for a message: "a list (`[2001:db8::1]`)", "the text `abc`".
pub(super) fn described(checker: &Checker, node: &Node, at: &Location) -> String {
    let written = checker
        .written(at)
        .map(|text| text.lines().next().unwrap_or("").trim())
        .filter(|text| !text.is_empty());
    match (node, written) {
        (Node::Null, _) => "nothing".into(),
        (Node::Text(text), _) => format!("the text `{}`", printable_excerpt(text)),
        (Node::List(_) | Node::Map(_), Some(written)) => {
            format!("{} (`{}`)", node.kind(), printable_excerpt(written))
        }
        (_, Some(written)) => format!("{} (`{}`)", node.kind(), printable_excerpt(written)),
        (other, None) => other.kind().into(),
    }
}

const TEXT: &str = "a single value";

/// Reads one setting's value, reporting a value of the wrong kind and marking the mapping broken.
pub(super) struct Reader<'r, 'c, 's> {
    pub(super) checker: &'r mut Checker<'c>,
    pub(super) section: &'r Section<'s>,
    pub(super) key: &'r str,
    pub(super) broken: &'r mut bool,
}

impl Reader<'_, '_, '_> {
    fn wrong(&mut self, node: &Node, at: &Location, expected: &str) {
        *self.broken = true;
        let shown = described(self.checker, node, at);
        let path = self.section.path(self.key);
        // Quoting helps only where text is wanted: `endpoint: [2001:db8::1]` was meant as text.
        let help = match node {
            Node::List(_) | Node::Map(_) if expected == TEXT => {
                let opener = if matches!(node, Node::List(_)) {
                    '['
                } else {
                    '{'
                };
                let written = self
                    .checker
                    .written(at)
                    .and_then(|text| text.lines().next())
                    .map(|text| printable_excerpt(text.trim()))
                    .unwrap_or_default();
                format!(
                    "a value that starts with `{opener}` is a {} in YAML; quote it: `{}: \"{written}\"`",
                    if opener == '[' { "list" } else { "mapping" },
                    self.key
                )
            }
            _ => format!("write {expected} (see the inventory format in README.md)"),
        };
        report(
            self.checker,
            at,
            self.section.host,
            format!("`{path}` must be {expected}, but YAML read {shown}"),
            &help,
        );
    }

    pub(super) fn text(&mut self, node: Spanned<Node>) -> Option<Spanned<String>> {
        let at = node.referenced;
        match &node.value {
            Node::Null => None,
            Node::List(_) | Node::Map(_) => {
                self.wrong(&node.value, &at, TEXT);
                None
            }
            scalar => Some(Spanned::new(scalar_text(self.checker, scalar, &at), at, at)),
        }
    }

    pub(super) fn integer(&mut self, node: Spanned<Node>) -> Option<Spanned<i64>> {
        let at = node.referenced;
        let number = match &node.value {
            Node::Null => return None,
            Node::Int(value) => Some(i64::try_from(*value).unwrap_or(i64::MAX)),
            // A quoted number (`port: "51820"`) is meant as the number.
            Node::Text(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        match number {
            Some(number) => Some(Spanned::new(number, at, at)),
            None => {
                self.wrong(&node.value, &at, "a whole number");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, node: Spanned<Node>) -> Option<Spanned<bool>> {
        let at = node.referenced;
        match node.value {
            Node::Null => None,
            Node::Bool(value) => Some(Spanned::new(value, at, at)),
            other => {
                self.wrong(&other, &at, "`true` or `false`");
                None
            }
        }
    }

    /// Addresses or ranges: one, or a list of them.
    pub(super) fn one_or_many(&mut self, node: Spanned<Node>) -> Option<Spanned<OneOrMany>> {
        self.one_or_many_of(
            node,
            "an address or a list of them",
            "a list of addresses, one per item",
        )
    }

    /// One value or a list of them; `whole` and `item` say what is expected of each, in words.
    pub(super) fn one_or_many_of(
        &mut self,
        node: Spanned<Node>,
        whole: &str,
        each: &str,
    ) -> Option<Spanned<OneOrMany>> {
        let at = node.referenced;
        let items = match node.value {
            Node::Null => Vec::new(),
            Node::List(items) => {
                let mut texts = Vec::with_capacity(items.len());
                for item in items {
                    let item_at = item.referenced;
                    match &item.value {
                        Node::Null => {}
                        Node::List(_) | Node::Map(_) => self.wrong(&item.value, &item_at, each),
                        scalar => texts.push(Spanned::new(
                            scalar_text(self.checker, scalar, &item_at),
                            item_at,
                            item_at,
                        )),
                    }
                }
                texts
            }
            Node::Map(_) => {
                self.wrong(&node.value, &at, whole);
                return None;
            }
            scalar => vec![Spanned::new(
                scalar_text(self.checker, &scalar, &at),
                at,
                at,
            )],
        };
        Some(Spanned::new(OneOrMany(items), at, at))
    }
}

impl Reader<'_, '_, '_> {
    /// A scalar kept as text as written, whatever YAML made of it: `table: off` (a YAML 1.1
    /// boolean) stays `off`, `fwmark: 0xca6c` stays `0xca6c`; validation decides what it means.
    pub(super) fn scalar(
        &mut self,
        node: Spanned<Node>,
        expected: &str,
    ) -> Option<Spanned<Scalar>> {
        let at = node.referenced;
        match &node.value {
            Node::Null => None,
            Node::Text(_) | Node::Int(_) | Node::Bool(_) => Some(Spanned::new(
                Scalar(scalar_text(self.checker, &node.value, &at)),
                at,
                at,
            )),
            Node::Float(_) | Node::List(_) | Node::Map(_) => {
                self.wrong(&node.value, &at, expected);
                None
            }
        }
    }

    /// `allowed_ips: { PEER: [PREFIX, …] }`: prefixes per peer name, in file order.
    pub(super) fn peer_prefixes(&mut self, node: Spanned<Node>) -> Option<Spanned<PeerPrefixes>> {
        let at = node.referenced;
        let entries = match node.value {
            Node::Null => Vec::new(),
            Node::Map(entries) => entries,
            other => {
                self.wrong(
                    &other,
                    &at,
                    "a mapping of peer names to prefixes, e.g. `{ relay1: [198.18.60.0/24] }`",
                );
                return None;
            }
        };
        let mut peers = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let Some(name) = super::key_text(self.checker, &key, "peer name") else {
                *self.broken = true;
                continue;
            };
            let Some(prefixes) = self.one_or_many_of(
                value,
                "a prefix or a list of them, e.g. `[198.18.60.0/24]`",
                "a list of prefixes, one per item",
            ) else {
                continue;
            };
            peers.push((Spanned::new(name, key.referenced, key.referenced), prefixes));
        }
        Some(Spanned::new(PeerPrefixes(peers), at, at))
    }
}

pub(super) fn report(
    checker: &mut Checker,
    at: &Location,
    host: Option<&str>,
    message: String,
    help: &str,
) {
    let at = checker.at(at);
    checker.report(at, host, message, Some(help.to_owned()));
}
