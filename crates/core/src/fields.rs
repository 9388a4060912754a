//! Typed reading of a strict YAML mapping that never stops at the first problem: each accessor
//! reports a located diagnostic and returns `None`, so every problem in a file shows in one run.

use std::borrow::Cow;

use crate::diag::{Code, DiagExt, Pos, Sink};
use crate::names::escape;
use crate::yaml::{Entry, Node, Value, is_bool};

/// A value with the position it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> Spanned<T> {
    pub fn new(value: T, pos: Pos) -> Self {
        Self { value, pos }
    }
}

/// The JSON Schema of a spanned value is that of the value: positions are not part of the format.
impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// Reads the keys of one mapping, remembering which were read so the rest are "unknown".
pub struct MapReader<'a> {
    entries: &'a [Entry],
    used: Vec<bool>,
    pub pos: Pos,
}

impl<'a> MapReader<'a> {
    /// `what` names the mapping in messages ("the request", "vault `x`").
    pub fn new(node: &'a Node, what: &str, sink: &mut Sink) -> Option<Self> {
        match &node.value {
            Value::Map(entries) => Some(Self {
                entries,
                used: vec![false; entries.len()],
                pos: node.pos,
            }),
            Value::Invalid => None,
            _ => {
                sink.error(
                    Code::NotAMapping,
                    node.pos,
                    format!(
                        "{what} must be a mapping of `key: value` lines, found {}",
                        node.kind()
                    ),
                );
                None
            }
        }
    }

    /// The raw node under `key`, if present (a null value counts as absent).
    pub fn node(&mut self, key: &str) -> Option<&'a Node> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        self.used[i] = true;
        let node = &self.entries[i].value;
        (!node.is_null()).then_some(node)
    }

    /// The position of `key` itself, for messages about a missing or bad value.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.key_pos)
    }

    /// Text value. Numbers are accepted as text (a secret may be called `2024`); booleans,
    /// lists and mappings are not.
    pub fn string(&mut self, key: &str, sink: &mut Sink) -> Option<Spanned<String>> {
        let key_pos = self.key_pos(key);
        let node = self.node(key)?;
        match &node.value {
            Value::Scalar { text, plain } if *plain && is_bool(text) => {
                sink.error(
                    Code::WrongType,
                    node.pos,
                    format!("`{key}` must be text, found the boolean `{text}`"),
                )
                .with_help(format!("quote it if you mean the text: {key}: \"{text}\""));
                None
            }
            Value::Scalar { text, .. } => {
                if text.trim().is_empty() {
                    sink.error(
                        Code::EmptyValue,
                        key_pos.unwrap_or(node.pos),
                        format!("`{key}` is empty"),
                    );
                    return None;
                }
                Some(Spanned::new(text.clone(), node.pos))
            }
            Value::Invalid => None,
            _ => {
                sink.error(
                    Code::WrongType,
                    node.pos,
                    format!("`{key}` must be text, found {}", node.kind()),
                );
                None
            }
        }
    }

    pub fn bool(&mut self, key: &str, sink: &mut Sink) -> Option<Spanned<bool>> {
        let node = self.node(key)?;
        match &node.value {
            Value::Scalar { text, plain: true } if is_bool(text) => {
                Some(Spanned::new(text.eq_ignore_ascii_case("true"), node.pos))
            }
            Value::Invalid => None,
            _ => {
                sink.error(
                    Code::WrongType,
                    node.pos,
                    format!(
                        "`{key}` must be `true` or `false`, found {}",
                        describe(node)
                    ),
                )
                .with_help(format!(
                    "write `{key}: true` or `{key}: false`, without quotes"
                ));
                None
            }
        }
    }

    pub fn uint(&mut self, key: &str, sink: &mut Sink) -> Option<Spanned<u32>> {
        let node = self.node(key)?;
        match &node.value {
            Value::Scalar { text, plain: true } if text.parse::<u32>().is_ok() => {
                Some(Spanned::new(text.parse().expect("checked"), node.pos))
            }
            Value::Invalid => None,
            _ => {
                sink.error(
                    Code::WrongType,
                    node.pos,
                    format!("`{key}` must be a whole number, found {}", describe(node)),
                );
                None
            }
        }
    }

    /// A list of text items (`[a, b]` or `- a` lines).
    pub fn string_list(
        &mut self,
        key: &str,
        sink: &mut Sink,
    ) -> Option<Spanned<Vec<Spanned<String>>>> {
        let node = self.node(key)?;
        let Value::Seq(items) = &node.value else {
            if node.value != Value::Invalid {
                sink.error(
                    Code::WrongType,
                    node.pos,
                    format!("`{key}` must be a list, found {}", node.kind()),
                )
                .with_help(format!("write `{key}: [a, b]`"));
            }
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match &item.value {
                Value::Scalar { text, plain } if !(item.is_null() || *plain && is_bool(text)) => {
                    out.push(Spanned::new(text.clone(), item.pos));
                }
                Value::Invalid => {}
                _ => {
                    sink.error(
                        Code::WrongType,
                        item.pos,
                        format!("items of `{key}` must be text, found {}", item.kind()),
                    );
                }
            }
        }
        Some(Spanned::new(out, node.pos))
    }

    /// A nested mapping's entries, for maps keyed by user names (vaults, roles, identities).
    pub fn entries(&mut self, key: &str, sink: &mut Sink) -> Option<(Pos, &'a [Entry])> {
        let node = self.node(key)?;
        match &node.value {
            Value::Map(entries) => Some((node.pos, entries)),
            Value::Invalid => None,
            _ => {
                sink.error(
                    Code::NotAMapping,
                    node.pos,
                    format!("`{key}` must be a mapping, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// Reports a required field that is absent or null.
    pub fn require<T>(&self, key: &str, value: &Option<T>, what: &str, sink: &mut Sink) {
        if value.is_some() {
            return;
        }
        // Present but null, empty or of the wrong type was reported already by the accessor.
        if let Some(e) = self.entries.iter().find(|e| e.key == key) {
            if e.value.is_null() {
                sink.error(Code::EmptyValue, e.key_pos, format!("`{key}` has no value"))
                    .with_help(format!("give {what}"));
            }
            return;
        }
        sink.error(
            Code::MissingField,
            self.pos,
            format!("missing field `{key}`"),
        )
        .with_help(format!("add `{key}:` with {what}"));
    }

    /// Reports every key that was not read, with a suggestion when one is close.
    pub fn finish(self, known: &[&str], what: &str, sink: &mut Sink) {
        for (entry, used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let d = sink.error(
                Code::UnknownKey,
                entry.key_pos,
                format!("unknown key `{}` in {what}", escape(&entry.key)),
            );
            match closest(&entry.key, known) {
                Some(k) => d.with_help(format!("did you mean `{k}`?")),
                None => d.with_help(format!("the keys allowed here are: {}", known.join(", "))),
            };
        }
    }
}

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Scalar { text, .. } => format!("`{}`", escape(text)),
        _ => node.kind().to_owned(),
    }
}

/// The known key within edit distance 2 (case-insensitive), for typo suggestions.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&key, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn read(src: &str, f: impl FnOnce(&mut MapReader, &mut Sink)) -> Vec<String> {
        let mut sink = Sink::new("f.yaml");
        let node = yaml::parse(src.as_bytes(), &mut sink).unwrap();
        let mut r = MapReader::new(&node, "the file", &mut sink).unwrap();
        f(&mut r, &mut sink);
        sink.diags
            .iter()
            .map(|d| format!("{}:{}:{}", d.code, d.line, d.column))
            .collect()
    }

    #[test]
    fn wrong_types_and_unknown_keys_are_all_reported() {
        let diags = read("a: true\nb: [1]\nc: yes\nd: \"x\"\nsecnet: 1\n", |r, s| {
            assert!(r.string("a", s).is_none());
            assert!(r.string("b", s).is_none());
            assert_eq!(r.string("c", s).unwrap().value, "yes");
            assert!(r.bool("d", s).is_none());
            let missing: Option<String> = None;
            r.require("justification", &missing, "a reason", s);
            let r = std::mem::replace(
                r,
                MapReader {
                    entries: &[],
                    used: vec![],
                    pos: Pos::START,
                },
            );
            r.finish(&["secret"], "the file", s);
        });
        assert_eq!(
            diags,
            [
                "wrong-type:1:4",
                "wrong-type:2:4",
                "wrong-type:4:4",
                "missing-field:1:1",
                "unknown-key:5:1"
            ]
        );
    }

    #[test]
    fn typo_suggestion() {
        assert_eq!(closest("secert", &["secret", "vault"]), Some("secret"));
        assert_eq!(closest("scope", &["secret", "vault"]), None);
    }
}
